package org.vitfit.convert;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.vitfit.convert.safetensors.Checkpoint;
import org.vitfit.convert.safetensors.SafetensorsWriter;
import org.vitfit.convert.safetensors.TensorInfo;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * The tiny Swin and DeiT checkpoints of {@code src/test/resources/reference} (written by
 * {@code src/test/python/swin_deit_reference.py}) and ways to derive other layouts from them in a test directory.
 */
final class ReferenceFixtures {

    static final ObjectMapper JSON = new ObjectMapper();
    static final int IMAGES = 4;
    static final int SIZE = 112;

    private ReferenceFixtures() {
    }

    static Path dir() {
        return Golden.root().resolve("export/src/test/resources/reference");
    }

    static Path model(String name) {
        return dir().resolve(name);
    }

    /** The fixture images, in the order of the pixel and output files. */
    static Path image(int i) {
        return Golden.shared().resolve("fixtures/hf-golden/images").resolve(new String[] {
                "img0.png", "img1.png", "img2.png", "img3.jpg"}[i]);
    }

    /** A writable copy of a fixture checkpoint (config, weights, preprocessor config where there is one). */
    static Path copy(String name, Path into) throws IOException {
        Files.createDirectories(into);
        try (Stream<Path> files = Files.list(model(name))) {
            for (Path f : files.filter(f -> f.getFileName().toString().endsWith(".json")
                    || f.getFileName().toString().endsWith(".safetensors")).toList()) {
                Files.copy(f, into.resolve(f.getFileName()));
            }
        }
        return into;
    }

    /** Rewrites {@code dir/model.safetensors} with every tensor renamed by {@code rename} (null drops it). */
    static void renameTensors(Path dir, Function<String, String> rename) throws IOException {
        rewriteTensors(dir, rename, (name, bytes) -> bytes);
    }

    /** Rewrites {@code dir/model.safetensors}: names through {@code rename} (null drops), bytes through {@code data}. */
    static void rewriteTensors(Path dir, Function<String, String> rename, BiFunction<String, byte[], byte[]> data)
            throws IOException {
        SafetensorsWriter w = new SafetensorsWriter();
        try (Checkpoint c = Checkpoint.open(dir)) {
            for (String name : c.names()) {
                String renamed = rename.apply(name);
                if (renamed == null) {
                    continue;
                }
                TensorInfo info = c.info(name);
                ByteBuffer raw = c.rawBytes(name);
                byte[] bytes = new byte[raw.remaining()];
                raw.get(bytes);
                w.tensor(renamed, info.dtype(), info.shape(), data.apply(name, bytes));
            }
        }
        w.write(dir.resolve("model.safetensors.new"));
        Files.move(dir.resolve("model.safetensors.new"), dir.resolve("model.safetensors"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    static void editJson(Path file, Consumer<ObjectNode> edit) throws IOException {
        ObjectNode c = (ObjectNode) JSON.readTree(file.toFile());
        edit.accept(c);
        JSON.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), c);
    }
}
