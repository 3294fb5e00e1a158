package org.vitfit.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Errors a user meets without a mistake of vitfit's: one 'error:' line that says what, where and what to do. */
class ErrorMessagesCliTest {

    @TempDir
    Path tmp;

    @Test
    void fileSystemErrorsThatCarryOnlyAPathGetTheirCause() {
        // an AccessDeniedException's message is the bare path: it printed as "error: /tmp/ro/c"
        assertEquals("permission denied: /data/out", VitfitCli.message(new AccessDeniedException("/data/out")));
        assertEquals("already exists: /data/out", VitfitCli.message(new FileAlreadyExistsException("/data/out")));
        // a reason vitfit gave is kept as written
        assertEquals("/h/head.json: not a vitfit head directory", VitfitCli.message(
                new NoSuchFileException("/h/head.json", null, "not a vitfit head directory")));
        assertEquals("java.lang.NullPointerException", VitfitCli.message(new NullPointerException()));
    }

    /** A model larger than the heap is a user's situation: a message and status 1, not a JVM stack trace. */
    @Test
    void convertInATinyHeapSaysHowToGiveJavaMoreMemory() throws Exception {
        Path out = tmp.resolve("model");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        // 40 MB of heap cannot hold ViT-Tiny's 22 MB of weights and their graph
        Process p = new ProcessBuilder(java, "-Xmx40m", "-cp", System.getProperty("java.class.path"),
                VitfitCli.class.getName(), "convert", CliRun.root().resolve("models/vit-tiny-patch16-224-augreg")
                .toString(), "--output", out.toString()).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        p.getOutputStream().close();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(1, p.exitValue(), err);
        assertTrue(err.startsWith("error: out of memory (Java heap space; this JVM may use at most "), err);
        assertTrue(err.contains("give Java more memory (java -Xmx8g -jar vitfit-cli.jar"), err);
        assertFalse(err.contains("\tat "), err);
        assertFalse(Files.exists(out));
    }
}
