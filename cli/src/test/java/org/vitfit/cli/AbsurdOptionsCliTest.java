package org.vitfit.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Absurd numbers for the options of predict and serve, and a negative device index for any command: one 'error:'
 * line naming the option, its range and the value, before a model is loaded or a port is bound.
 */
class AbsurdOptionsCliTest {

    @TempDir
    Path tmp;

    /** The checks run before the classifier is opened, so a file that is not there is never reached. */
    private String[] with(String command, String... options) {
        List<String> args = new ArrayList<>(List.of(command, "--classifier", tmp.resolve("absent.vitfit").toString()));
        args.addAll(List.of(options));
        if (command.equals("predict")) {
            args.add(tmp.resolve("absent.jpg").toString());
        }
        return args.toArray(String[]::new);
    }

    private static void refused(String[] args, String expected) {
        CliRun r = CliRun.vitfit(args);
        assertEquals(1, r.exit(), String.join(" ", args) + "\n" + r.err());
        assertEquals("error: " + expected, r.err().strip(), String.join(" ", args));
        assertFalse(r.err().contains("\tat "), r.err());
    }

    @Test
    void predictHasTheBoundsOfExtract() {
        refused(with("predict", "--batch-size", "1000000"), "--batch-size must be between 1 and 4096, got 1000000 "
                + "(images per inference call; the default, 8 on cpu and 32 on cuda, is close to the fastest)");
        refused(with("predict", "--batch-size", "0"), "--batch-size must be between 1 and 4096, got 0 (images per "
                + "inference call; the default, 8 on cpu and 32 on cuda, is close to the fastest)");
        refused(with("predict", "--threads", "100000"), "--threads must be between 1 and 256, got 100000 (decode "
                + "threads; the default, one per core, keeps the model busy)");
        refused(with("predict", "--threads", "-1"), "--threads must be between 1 and 256, got -1 (decode threads; the "
                + "default, one per core, keeps the model busy)");
        refused(with("predict", "--top-k", "0"), "--top-k must be at least 1, got 0 (classes listed per image)");
    }

    @Test
    void serveRefusesAbsurdNumbersBeforeBinding() {
        refused(with("serve", "--port", "70000"), "--port must be between 0 and 65535, got 70000 (TCP port; 0 picks "
                + "a free one)");
        refused(with("serve", "--port", "-1"), "--port must be between 0 and 65535, got -1 (TCP port; 0 picks a free "
                + "one)");
        refused(with("serve", "--threads", "100000"), "--threads must be between 1 and 256, got 100000 (images "
                + "decoded and classified at once; the default is the number of cores)");
        refused(with("serve", "--threads", "0"), "--threads must be between 1 and 256, got 0 (images decoded and "
                + "classified at once; the default is the number of cores)");
        refused(with("serve", "--max-connections", "2000000000"), "--max-connections must be between 1 and 65536, "
                + "got 2000000000 (connections open at once, each holding a file descriptor; more wait to be "
                + "accepted)");
        refused(with("serve", "--max-connections", "0"), "--max-connections must be between 1 and 65536, got 0 "
                + "(connections open at once, each holding a file descriptor; more wait to be accepted)");
        for (String t : List.of("NaN", "0", "-5", "Infinity", "1e9")) {
            refused(with("serve", "--idle-timeout", t), "--idle-timeout must be between 0.1 and 3600, got "
                    + Double.parseDouble(t) + " (seconds a connection may send nothing)");
        }
        refused(with("serve", "--max-upload-mb", "0"), "--max-upload-mb must be between 1 and 2047, got 0 (largest "
                + "upload in MB, held in memory while it is decoded)");
        refused(with("serve", "--max-upload-mb", "2000000"), "--max-upload-mb must be between 1 and 2047, got "
                + "2000000 (largest upload in MB, held in memory while it is decoded)");
        refused(with("serve", "--max-megapixels", "100000"), "--max-megapixels must be between 1 and 2147, got 100000 "
                + "(largest image, checked before decoding; a Java image holds at most 2147 megapixels)");
        refused(with("serve", "--max-megapixels", "-3"), "--max-megapixels must be between 1 and 2147, got -3 "
                + "(largest image, checked before decoding; a Java image holds at most 2147 megapixels)");
    }

    /** An upload limit past the heap would be accepted and fail as out of memory on the first large upload. */
    @Test
    void serveRefusesAnUploadLimitLargerThanTheHeap() {
        ServeCommand serve = new ServeCommand();
        serve.port = 8080;
        serve.maxUploadMb = 100;
        serve.maxMegapixels = 50;
        serve.idleTimeoutSeconds = 10;
        serve.maxConnections = 512;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> serve.checkOptions(64L << 20));
        assertEquals("--max-upload-mb 100 is more than the 64 MB Java may use, and an upload is held in memory while "
                + "it is decoded: lower it, or give Java more memory (VITFIT_JAVA_OPTS=-Xmx2g)", e.getMessage());
        serve.maxUploadMb = 20;
        serve.checkOptions(64L << 20);
    }

    /** cuda:-1 was accepted and fell back to the CPU with a warning; every command parses --device alike. */
    @Test
    void aNegativeDeviceIndexIsRefusedByEveryCommand() throws Exception {
        String expected = "device cuda:-1: a CUDA device index is 0 or more (cuda:0 is the first GPU, as nvidia-smi "
                + "numbers them)";
        refused(with("predict", "--device", "cuda:-1"), expected);
        refused(with("serve", "--device", "cuda:-1"), expected);
        Path in = Files.createDirectories(tmp.resolve("in"));
        refused(new String[] {"extract", "--model", tmp.resolve("model").toString(), "--input", in.toString(),
                "--output", tmp.resolve("cache").toString(), "--device", "cuda:-1"}, expected);
        assertFalse(Files.exists(tmp.resolve("cache")));
        refused(new String[] {"finetune", "--model", tmp.resolve("model").toString(), "--input", in.toString(),
                "--output", tmp.resolve("ft").toString(), "--device", "cuda:-1"}, expected);
        assertTrue(Files.notExists(tmp.resolve("ft")));
    }
}
