package org.vitfit.convert.quant;

import org.vitfit.convert.ConversionException;
import org.vitfit.convert.Converter;
import org.vitfit.convert.LinearEmitter;
import org.vitfit.convert.Precision;
import org.vitfit.convert.VitParameters;
import org.vitfit.runtime.ModelDescriptor;

/**
 * The converter's one call into this package: given the precision and an optional calibration request, the weights
 * and emitter the graph builder uses and what {@code vitfit-model.json} records about it.
 */
public final class Quantizing {

    private Quantizing() {
    }

    /**
     * @param parameters the weights to build from (smoothed for static int8)
     * @param emitter    how the builder writes the matrix products
     * @param mode       {@code dynamic}, {@code static}, or null when nothing is quantised
     * @param descriptor the {@code quantization} entry of {@code vitfit-model.json}, or null
     */
    public record Graph(VitParameters parameters, LinearEmitter emitter, String mode,
                        ModelDescriptor.Quantization descriptor) {
    }

    /** Refuses combinations that would silently do something else than asked, before any work. */
    public static void check(Precision precision, CalibrationRequest calibration) throws ConversionException {
        if (calibration != null && precision != Precision.INT8) {
            throw new ConversionException("--calibration measures int8 activation scales; it has no use with --precision "
                    + precision.label() + ". Add --precision int8, or leave out --calibration.");
        }
    }

    public static Graph prepare(Converter.Loaded loaded, Precision precision, CalibrationRequest calibration)
            throws java.io.IOException {
        VitParameters p = loaded.parameters();
        if (precision != Precision.INT8) {
            return new Graph(p, LinearEmitter.FLOAT, null, null);
        }
        Int8.requireChecked(p.spec().family(), calibration != null);
        if (calibration == null) {
            return new Graph(p, DynamicInt8.INSTANCE, "dynamic", new ModelDescriptor.Quantization("dynamic",
                    "linear layers except fc2 (activations quantised per tensor at run time)", null, null, null));
        }
        Calibration c = Calibrator.calibrate(p, loaded.preprocessing(), calibration.images(), calibration.threads(),
                calibration.progress());
        Int8.Static s = Int8.calibrated(p, c);
        return new Graph(s.parameters(), s.emitter(), "static", new ModelDescriptor.Quantization("static",
                "qkv, proj, fc1, fc2 (activation scales from calibration); attention products float in QAttention",
                s.plan().floatLayers(), Smoothing.STRENGTH,
                new ModelDescriptor.Calibration(calibration.source(), c.images(), c.skipped(), c.imagesSha256())));
    }
}
