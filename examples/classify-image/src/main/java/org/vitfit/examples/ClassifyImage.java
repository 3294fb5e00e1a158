package org.vitfit.examples;

import org.vitfit.classify.Classification;
import org.vitfit.classify.VitClassifier;

import java.nio.file.Path;
import java.util.Locale;

/**
 * Classifies images with a classifier exported by {@code vitfit export}, using nothing but the vitfit runtime
 * library: {@code java -jar target/classify-image.jar pets.vitfit photo.jpg [more.jpg ...]}.
 */
public final class ClassifyImage {

    private ClassifyImage() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: java -jar classify-image.jar CLASSIFIER.vitfit IMAGE [IMAGE...]");
            System.exit(2);
        }
        try (VitClassifier classifier = VitClassifier.load(Path.of(args[0]))) {
            System.out.printf(Locale.ROOT, "%s: %s, %d labels%n", args[0], classifier.descriptor().task(),
                    classifier.labels().size());
            for (int i = 1; i < args.length; i++) {
                Classification result = classifier.classify(Path.of(args[i]));
                System.out.println(args[i]);
                for (Classification.ScoredLabel s : result.top(3)) {
                    System.out.printf(Locale.ROOT, "  %6.2f%%  %s%n", 100 * s.score(), s.label());
                }
                if (classifier.multiLabel()) {
                    System.out.println("  labels: " + String.join(", ", result.activeLabels()));
                }
            }
        }
    }
}
