package org.vitfit.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.vitfit.onnx.Device;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.runtime.ModelDescriptor;
import org.vitfit.runtime.TopK;
import org.vitfit.runtime.VitModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

@Command(name = "predict",
        description = {
                "Classify images with a converted model's own classification head (e.g. ImageNet).",
                "",
                "Example:",
                "  vitfit predict --model target/vit-tiny models/vit-tiny-patch16-224-augreg/samples/*.JPEG",
        },
        mixinStandardHelpOptions = true)
final class PredictCommand implements Callable<Integer> {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Directory written by 'vitfit convert'.")
    Path model;

    @Option(names = "--top-k", defaultValue = "5", paramLabel = "K", description = "Classes to print per image (default ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--json", description = "Print one JSON object per image: {\"file\":..., \"top\":[{\"label\":..., \"score\":...}]}.")
    boolean json;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|cuda[:N]", description = "Where to run (default ${DEFAULT-VALUE}).")
    String device;

    @Parameters(arity = "1..*", paramLabel = "IMAGE", description = "Image files.")
    List<Path> images;

    @Override
    public Integer call() throws Exception {
        try (VitModel vit = VitModel.open(model, Device.parse(device), 0)) {
            ModelDescriptor d = vit.descriptor();
            if (!d.outputs().contains("logits") || d.labels() == null) {
                throw new IllegalArgumentException(model + " has no classification head with class names; "
                        + "train a head (vitfit train) and export a classifier (vitfit export) instead");
            }
            ImageDecoder decoder = ImageDecoder.forRecipe(d.preprocessing());
            for (Path file : images) {
                BufferedImage img = decoder.decode(file);
                float[] logits = vit.run(List.of(img), Set.of("logits")).get("logits")[0];
                List<TopK.Entry> top = TopK.ofSoftmax(logits, d.labels(), topK);
                print(file, top);
            }
        }
        return 0;
    }

    private void print(Path file, List<TopK.Entry> top) throws Exception {
        if (json) {
            ObjectNode o = JSON.createObjectNode();
            o.put("file", file.toString());
            ArrayNode arr = o.putArray("top");
            for (TopK.Entry e : top) {
                arr.addObject().put("label", e.label()).put("score", e.score());
            }
            System.out.println(JSON.writeValueAsString(o));
        } else {
            System.out.println(file);
            for (TopK.Entry e : top) {
                System.out.printf("  %6.2f%%  %s%n", 100 * e.score(), e.label());
            }
        }
    }
}
