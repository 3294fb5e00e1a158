package org.vitfit.heads;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

import java.util.Locale;

/** The model family of a head. */
public enum HeadKind {
    /** Tribuo's linear SGD model: multinomial logistic regression, or per-label logistic regression. */
    LINEAR,
    /** The vitfit MLP ({@link MLPModel}). */
    MLP;

    @JsonValue
    public String jsonName() {
        return name().toLowerCase(Locale.ROOT);
    }

    @JsonCreator
    public static HeadKind parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown head kind '" + s + "'; expected linear or mlp");
        }
    }
}
