package org.vitfit.io;

import java.util.Locale;

/**
 * What a vitfit output directory or file is. The marker written into each output names its kind, and
 * {@code --overwrite} replaces only an output of the same kind: a head never replaces a cache, a model never
 * replaces a project folder.
 */
public enum OutputKind {
    MODEL("converted model"),
    CACHE("embedding cache"),
    HEAD("head"),
    CLASSIFIER("classifier file"),
    FINETUNE("fine-tuned model"),
    FINETUNE_STATE("fine-tuning checkpoint"),
    PARQUET("Parquet embedding table"),
    PREDICTIONS("prediction file"),
    SCORES("scores file"),
    REPORT("report");

    private final String description;

    OutputKind(String description) {
        this.description = description;
    }

    /** How a message names it: "an embedding cache". */
    public String description() {
        return description;
    }

    /** "an embedding cache", "a head": for messages. */
    public String withArticle() {
        return ("aeiou".indexOf(description.charAt(0)) >= 0 ? "an " : "a ") + description;
    }

    /** The id written in markers: {@code embedding-cache} style, stable across versions. */
    public String id() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    static OutputKind fromId(String id) {
        for (OutputKind k : values()) {
            if (k.id().equals(id)) {
                return k;
            }
        }
        return null;
    }
}
