package org.vitfit.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** One in-process run of the {@code vitfit} command line, with what it printed; shared by the CLI tests. */
record CliRun(int exit, String out, String err) {

    /** Runs {@code vitfit args...} as {@code main} would, capturing stdout and stderr. */
    static CliRun vitfit(String... args) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int code = VitfitCli.run(args);
            return new CliRun(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    /** The repository root (surefire sets {@code vitfit.root}). */
    static Path root() {
        return Path.of(System.getProperty("vitfit.root", "..")).toAbsolutePath().normalize();
    }

    /** The read-only reference data beside the checkout (surefire sets {@code vitfit.shared}). */
    static Path shared() {
        return Path.of(System.getProperty("vitfit.shared", "../shared")).toAbsolutePath().normalize();
    }
}
