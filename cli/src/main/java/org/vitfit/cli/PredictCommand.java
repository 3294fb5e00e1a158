package org.vitfit.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.vitfit.classify.Classification;
import org.vitfit.classify.VitClassifier;
import org.vitfit.onnx.Device;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.runtime.ModelDescriptor;
import org.vitfit.runtime.TopK;
import org.vitfit.runtime.VitModel;
import picocli.CommandLine.ArgGroup;
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
                "Classify images with an exported classifier or with a converted model's own head.",
                "",
                "--classifier takes the one-file classifier from 'vitfit export'; --model takes a directory from",
                "'vitfit convert' whose checkpoint has a classification head (e.g. ImageNet).",
                "",
                "Examples:",
                "  vitfit predict --classifier target/pets.vitfit photo.jpg",
                "  vitfit predict --model target/vit-tiny models/vit-tiny-patch16-224-augreg/samples/*.JPEG",
        },
        mixinStandardHelpOptions = true)
final class PredictCommand implements Callable<Integer> {

    private static final ObjectMapper JSON = new ObjectMapper();

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    /** Exactly one of the two: picocli reports a usage error for none or both. */
    static final class Source {
        @Option(names = "--model", required = true, paramLabel = "DIR",
                description = "Directory written by 'vitfit convert' whose checkpoint has a classification head.")
        Path model;

        @Option(names = "--classifier", required = true, paramLabel = "FILE",
                description = "Classifier file written by 'vitfit export' (.vitfit).")
        Path classifier;
    }

    @Option(names = "--top-k", defaultValue = "5", paramLabel = "K", description = "Classes to print per image (default ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--json", description = "Print one JSON object per image: {\"file\":..., \"top\":[{\"label\":..., "
            + "\"score\":...}]}, plus \"labels\" (the labels above their thresholds) for a multi-label classifier.")
    boolean json;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|cuda[:N]", description = "Where to run (default ${DEFAULT-VALUE}).")
    String device;

    @Parameters(arity = "1..*", paramLabel = "IMAGE", description = "Image files.")
    List<Path> images;

    @Override
    public Integer call() throws Exception {
        if (topK < 1) {
            throw new IllegalArgumentException("--top-k must be >= 1, got " + topK);
        }
        if (source.classifier != null) {
            return predictWithClassifier(source.classifier);
        }
        Path model = source.model;
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
                print(file, top, null);
            }
        }
        return 0;
    }

    private Integer predictWithClassifier(Path file) throws Exception {
        try (VitClassifier classifier = VitClassifier.load(file, Device.parse(device), 0)) {
            for (Path image : images) {
                Classification c = classifier.classify(image);
                List<TopK.Entry> top = c.top(topK).stream()
                        .map(s -> new TopK.Entry(s.index(), s.label(), s.score())).toList();
                print(image, top, classifier.multiLabel() ? c.activeLabels() : null);
            }
        }
        return 0;
    }

    /** @param active the labels above their thresholds (multi-label classifiers), or null */
    private void print(Path file, List<TopK.Entry> top, List<String> active) throws Exception {
        if (json) {
            ObjectNode o = JSON.createObjectNode();
            o.put("file", file.toString());
            ArrayNode arr = o.putArray("top");
            for (TopK.Entry e : top) {
                arr.addObject().put("label", e.label()).put("score", e.score());
            }
            if (active != null) {
                ArrayNode labels = o.putArray("labels");
                active.forEach(labels::add);
            }
            System.out.println(JSON.writeValueAsString(o));
        } else {
            System.out.println(file);
            for (TopK.Entry e : top) {
                System.out.printf("  %6.2f%%  %s%n", 100 * e.score(), e.label());
            }
            if (active != null) {
                System.out.println("  labels: " + (active.isEmpty() ? "(none above its threshold)" : String.join(", ", active)));
            }
        }
    }
}
