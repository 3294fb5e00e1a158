package org.vitfit.convert;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.runtime.Hashing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The same checkpoint and options give the same {@code model.onnx} bytes in every JVM, so a head trained on one
 * conversion is accepted with another. {@code Map.of} iterates in an order salted per JVM, so two conversions in one
 * JVM prove nothing: this converts in child JVMs too and compares the files' sha256.
 */
class ReproducibleConversionTest {

    /** Child JVMs beside this one: with a per-JVM random attribute order, all agreeing by chance is unlikely. */
    private static final int CHILD_JVMS = 3;

    @TempDir
    Path tmp;

    /** Entry point of a child JVM: {@code CHECKPOINT PREPROCESSOR_CONFIG OUTPUT}. */
    public static void main(String[] args) throws IOException {
        Converter.convert(Path.of(args[0]), Path.of(args[2]),
                new Converter.Options("reproducibility-test", false, Path.of(args[1])));
    }

    @Test
    void theSameCheckpointGivesTheSameModelOnnxInEveryJvm() throws Exception {
        Path checkpoint = Golden.shared().resolve("fixtures/hf-golden/vit");
        Path processor = checkpoint.resolve("processor_slow/preprocessor_config.json");
        main(new String[] {checkpoint.toString(), processor.toString(), tmp.resolve("here").toString()});
        String here = Hashing.sha256(tmp.resolve("here/model.onnx"));

        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<Process> children = new ArrayList<>();
        for (int i = 0; i < CHILD_JVMS; i++) {
            Path log = tmp.resolve("child-" + i + ".log");
            children.add(new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                    ReproducibleConversionTest.class.getName(), checkpoint.toString(), processor.toString(),
                    tmp.resolve("child-" + i).toString())
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start());
        }
        for (int i = 0; i < CHILD_JVMS; i++) {
            Process p = children.get(i);
            boolean done = p.waitFor(2, TimeUnit.MINUTES);
            if (!done) {
                p.destroyForcibly();
            }
            String log = Files.readString(tmp.resolve("child-" + i + ".log"));
            assertTrue(done && p.exitValue() == 0, "child JVM " + i + " failed:\n" + log);
            assertEquals(here, Hashing.sha256(tmp.resolve("child-" + i + "/model.onnx")),
                    "model.onnx of child JVM " + i + " differs from this JVM's");
        }
    }
}
