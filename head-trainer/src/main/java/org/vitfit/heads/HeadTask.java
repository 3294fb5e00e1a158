package org.vitfit.heads;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

import java.util.Locale;

/** What a head predicts: exactly one class per image, or any set of labels. */
public enum HeadTask {
    MULTICLASS,
    MULTILABEL;

    @JsonValue
    public String jsonName() {
        return name().toLowerCase(Locale.ROOT);
    }

    @JsonCreator
    public static HeadTask parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT).replace("-", ""));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown head task '" + s + "'; expected multiclass or multilabel");
        }
    }
}
