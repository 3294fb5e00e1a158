package org.vitfit.cli;

import org.vitfit.classifier.ClassifierExporter;
import org.vitfit.classify.ClassifierDescriptor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "export",
        description = {
                "Export a converted model and a trained head as one classifier file.",
                "",
                "Fuses the backbone's ONNX graph and the head's into a single classifier.onnx (input",
                "pixel_values; outputs logits, probabilities, labels_mask for multi-label heads, embedding)",
                "and writes it with vitfit-classifier.json (labels, preprocessing, thresholds, metrics,",
                "provenance) into one zip, with the size and sha256 of each entry, which every load checks.",
                "Load it with VitClassifier.load (vitfit-runtime), 'vitfit predict",
                "--classifier' or 'vitfit serve'. The head must have been trained on embeddings of this model.",
                "",
                "Example:",
                "  vitfit export --model target/vit-tiny --head target/pets-head --output target/pets.vitfit",
        },
        mixinStandardHelpOptions = true)
final class ExportCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Directory written by 'vitfit convert'.")
    Path model;

    @Option(names = "--head", required = true, paramLabel = "DIR", description = "Directory written by 'vitfit train'.")
    Path head;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "FILE",
            description = "The classifier file to write, e.g. pets.vitfit.")
    Path output;

    @Option(names = "--overwrite", description = "Replace --output if it is a classifier file an earlier "
            + "'vitfit export' wrote (anything else is refused).")
    boolean overwrite;

    @Override
    public Integer call() throws Exception {
        ClassifierExporter.Result r = ClassifierExporter.export(model, head, output, overwrite);
        ClassifierDescriptor d = r.descriptor();
        System.out.printf(Locale.ROOT, "exported %s classifier with %d labels (%s head on %s, %dx%d input) -> %s (%.1f MB)%n",
                d.task(), d.labels().size(), d.provenance().head().kind(), d.provenance().backbone().architecture(),
                d.imageHeight(), d.imageWidth(), r.file(), r.bytes() / 1e6);
        ClassifierDescriptor.Headline h = d.headline();
        if (h != null) {
            System.out.println(String.format(Locale.ROOT, "%s %s %.3f on %d images (from the head's metrics.json)",
                    h.split(), h.name(), h.value(), h.examples()));
        }
        return 0;
    }
}
