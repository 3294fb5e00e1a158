package org.vitfit.convert.quant;

import org.vitfit.convert.ConversionException;
import org.vitfit.convert.LinearEmitter;
import org.vitfit.convert.VitParameters;

import java.util.Set;
import java.util.TreeSet;

/** Entry point of the int8 conversions: which families may be quantised, and the calibrated (static) graph. */
public final class Int8 {

    /**
     * Families whose calibrated int8 embeddings are checked against fp32 in the test suite (worst cosine &gt;= 0.99 on
     * real photos, {@code PrecisionConversionTest}): the real ViT-Tiny in timm layout and the same weights in Hugging
     * Face layout.
     */
    public static final Set<String> CALIBRATED_CHECKED = Set.of("timm_vit", "hf_vit");
    /** Families whose dynamic int8 is checked (the same, and timm Swin in {@code SwinDeitReferenceTest}). */
    public static final Set<String> DYNAMIC_CHECKED = Set.of("timm_vit", "hf_vit", "timm_swin");

    private Int8() {
    }

    /** Refuses int8 (calibrated or dynamic) for a family whose int8 accuracy has not been checked. */
    public static void requireChecked(String family, boolean calibrated) throws ConversionException {
        Set<String> checked = calibrated ? CALIBRATED_CHECKED : DYNAMIC_CHECKED;
        if (!checked.contains(family)) {
            throw new ConversionException((calibrated ? "calibrated " : "") + "int8 is not available for " + family
                    + " models yet: its accuracy against fp32 is checked only for "
                    + String.join(", ", new TreeSet<>(checked)) + ". Convert with --precision fp32 (or fp16 for CUDA)"
                    + (calibrated && DYNAMIC_CHECKED.contains(family) ? ", or int8 without --calibration" : "") + ".");
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
