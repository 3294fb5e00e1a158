package org.vitfit.convert.quant;

import org.vitfit.convert.ConversionException;
import org.vitfit.convert.LinearEmitter;
import org.vitfit.convert.VitParameters;

import java.util.Set;

/** Entry point of the int8 conversions: which families may be quantised, and the calibrated (static) graph. */
public final class Int8 {

    /**
     * Families whose int8 embeddings are checked against fp32 in the test suite (cosine &gt;= 0.99 on real images,
     * {@code PrecisionConversionTest}): the real ViT-Tiny in timm layout and the same weights in Hugging Face layout.
     * Other families are refused rather than shipped unchecked.
     */
    public static final Set<String> CHECKED_FAMILIES = Set.of("timm_vit", "hf_vit");

    private Int8() {
    }

    /** Refuses int8 for a family whose int8 accuracy has not been checked. */
    public static void requireChecked(String family) throws ConversionException {
        if (!CHECKED_FAMILIES.contains(family)) {
            throw new ConversionException("int8 is not available for " + family + " models yet: its accuracy against "
                    + "fp32 is checked only for " + String.join(" and ", new java.util.TreeSet<>(CHECKED_FAMILIES))
                    + ". Convert with --precision fp32 (or fp16 for CUDA).");
        }
    }

    /** What the builder needs for a calibrated int8 graph (the smoothed weights and the emitter) and the plan. */
    public record Static(VitParameters parameters, LinearEmitter emitter, QuantPlan plan) {
    }

    /** The static int8 graph of {@code p} for the ranges measured in {@code c}. */
    public static Static calibrated(VitParameters p, Calibration c) {
        QuantPlan plan = QuantPlan.of(c, p.blocks().size());
        Smoothing s = Smoothing.apply(p, c, plan);
        return new Static(s.parameters(), new StaticInt8(c, s, plan, p.spec().numTokens()), plan);
    }
}
