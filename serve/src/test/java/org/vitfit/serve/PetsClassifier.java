package org.vitfit.serve;

import org.vitfit.classifier.ClassifierExporter;
import org.vitfit.convert.Converter;
import org.vitfit.extract.ExtractListener;
import org.vitfit.extract.ExtractOptions;
import org.vitfit.extract.Extractor;
import org.vitfit.heads.EmbeddingSet;
import org.vitfit.heads.HeadKind;
import org.vitfit.heads.HeadTrainer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * A real classifier for the server tests, made the way a user makes one: the bundled ViT-Tiny converted, four pet
 * breeds (two cats, two dogs, 10 photos each) extracted, a linear head trained, and the pair exported. Built once per
 * test JVM under {@code target/test-pets/}.
 */
final class PetsClassifier {

    static final List<String> BREEDS = List.of("Abyssinian", "Bombay", "beagle", "pug");

    private static Path file;

    private PetsClassifier() {
    }

    static Path shared() {
        return Path.of(System.getProperty("vitfit.shared", "../shared")).toAbsolutePath().normalize();
    }

    static Path root() {
        return Path.of(System.getProperty("vitfit.root", "..")).toAbsolutePath().normalize();
    }

    /** The first photo (by name) of {@code breed} in the shared Oxford-IIIT Pet subset. */
    static Path photo(String breed) throws IOException {
        try (Stream<Path> s = Files.list(shared().resolve("datasets/oxford-pets-370").resolve(breed))) {
            return s.sorted().findFirst().orElseThrow();
        }
    }

    static synchronized Path file() throws IOException {
        if (file != null) {
            return file;
        }
        Path dir = Path.of("target", "test-pets").toAbsolutePath();
        if (Files.exists(dir)) {
            try (Stream<Path> s = Files.walk(dir)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
        Path model = dir.resolve("vit-tiny");
        Converter.convert(root().resolve("models/vit-tiny-patch16-224-augreg"), model);
        Path cache = dir.resolve("cache");
        Extractor.run(ExtractOptions.builder(model, shared().resolve("datasets/oxford-pets-370"), cache)
                .include(BREEDS.stream().map(b -> b + "/*").toList()).build(), ExtractListener.NONE);
        Path head = dir.resolve("head");
        HeadTrainer.builder().head(HeadKind.LINEAR).seed(7).build().train(EmbeddingSet.fromCache(cache))
                .writeTo(head, false);
        Path out = dir.resolve("pets.vitfit");
        ClassifierExporter.export(model, head, out, false);
        file = out;
        return file;
    }
}
