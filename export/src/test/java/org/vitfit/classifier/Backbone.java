package org.vitfit.classifier;

import org.vitfit.convert.Converter;
import org.vitfit.onnx.Device;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.runtime.ModelDescriptor;
import org.vitfit.runtime.VitModel;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The bundled ViT-Tiny converted into {@code dir}, the four fixture images decoded as the model's recipe says, and
 * the backbone's own {@code embedding} of each: the reference every fused-classifier test compares against.
 */
record Backbone(Path dir, ModelDescriptor descriptor, List<Path> images, List<BufferedImage> decoded,
                float[][] embeddings) {

    static Path shared() {
        return Path.of(System.getProperty("vitfit.shared", "../shared")).toAbsolutePath().normalize();
    }

    static Path root() {
        return Path.of(System.getProperty("vitfit.root", "..")).toAbsolutePath().normalize();
    }

    static Backbone convert(Path dir) throws IOException {
        Converter.convert(root().resolve("models/vit-tiny-patch16-224-augreg"), dir);
        List<Path> images;
        try (Stream<Path> s = Files.list(shared().resolve("fixtures/hf-golden/images"))) {
            images = s.sorted().toList();
        }
        try (VitModel vit = VitModel.open(dir, Device.CPU, 0)) {
            ImageDecoder decoder = ImageDecoder.forRecipe(vit.descriptor().preprocessing());
            List<BufferedImage> decoded = new ArrayList<>();
            for (Path p : images) {
                decoded.add(decoder.decode(p));
            }
            float[][] embeddings = vit.run(decoded, Set.of("embedding")).get("embedding");
            return new Backbone(dir, vit.descriptor(), images, List.copyOf(decoded), embeddings);
        }
    }

    String sha256() {
        return descriptor.onnxSha256();
    }
}
