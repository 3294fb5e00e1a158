package org.vitfit.convert.quant;

import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

/**
 * What {@code vitfit convert --precision int8 --calibration DIR} asks for: calibrate on these images.
 *
 * @param source   how the images were named (the folder or manifest), recorded in {@code vitfit-model.json}
 * @param images   the image files, already sampled ({@link Calibrator#sample})
 * @param threads  ONNX Runtime intra-op threads for the calibration run (0 = one per core)
 * @param progress receives a line now and then (calibrating ViT-B on a few hundred images takes a minute or two)
 */
public record CalibrationRequest(String source, List<Path> images, int threads, Consumer<String> progress) {
    public CalibrationRequest {
        images = List.copyOf(images);
        if (progress == null) {
            progress = line -> { };
        }
    }
}
