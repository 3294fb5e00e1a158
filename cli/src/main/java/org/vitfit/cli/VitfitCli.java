package org.vitfit.cli;

import org.vitfit.io.Durable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.nio.file.FileSystemException;

/** Entry point of the {@code vitfit} command; each capability adds one subcommand class. */
@Command(name = "vitfit",
        mixinStandardHelpOptions = true,
        versionProvider = VitfitCli.Version.class,
        description = {
                "Transfer learning with Vision Transformers on the JVM.",
                "",
                "Typical flow: convert a pretrained ViT to ONNX, extract embeddings of your images,",
                "train a small head on them, then export one classifier file.",
        },
        subcommands = {
                CommandLine.HelpCommand.class,
                // In the order of the typical flow, so the command list reads as the steps.
                ConvertCommand.class,
                ExtractCommand.class,
                TrainCommand.class,
                EvaluateCommand.class,
                ExportCommand.class,
                PredictCommand.class,
                ServeCommand.class,
                FinetuneCommand.class,
                ParquetCommand.class,
        })
public final class VitfitCli implements Runnable {

    /** How a user gives the JVM more heap: {@code java -jar} reads no JAVA_OPTS, the launcher script reads this. */
    static final String MORE_MEMORY = "give Java more memory (java -Xmx8g -jar vitfit-cli.jar ..., or "
            + "VITFIT_JAVA_OPTS=-Xmx8g with the vitfit script)";

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /**
     * Runs one command and returns its exit status. picocli hands exceptions to the handler below, but lets errors
     * through; running out of memory (a model larger than the heap) is a user's situation, not a crash, so it gets a
     * message too.
     */
    static int run(String... args) {
        CommandLine cl = commandLine();
        try {
            return cl.execute(args);
        } catch (OutOfMemoryError e) {
            Runtime rt = Runtime.getRuntime();
            cl.getErr().println("error: out of memory (" + e.getMessage() + "; this JVM may use at most "
                    + rt.maxMemory() / (1 << 20) + " MiB of heap); " + MORE_MEMORY + ", or use a smaller --batch-size or "
                    + "--threads where the command has them");
            if (System.getenv("VITFIT_DEBUG") != null) {
                e.printStackTrace(cl.getErr());
            }
            return 1;
        }
    }

    /** The configured command line, shared by {@link #main} and the tests. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new VitfitCli());
        // Descriptions are laid out as lines of up to ~110 characters; wrapping them at picocli's default
        // 80 columns breaks sentences mid-line. Wider terminals are measured, narrower ones still wrap.
        cl.setUsageHelpWidth(120);
        cl.setUsageHelpAutoWidth(true);
        cl.setExecutionExceptionHandler((ex, line, parseResult) -> {
            // Users get the message, not a stack trace; --verbose style debugging via VITFIT_DEBUG.
            line.getErr().println("error: " + message(ex));
            if (System.getenv("VITFIT_DEBUG") != null) {
                ex.printStackTrace(line.getErr());
            }
            return 1;
        });
        return cl;
    }

    /**
     * The JDK's file-system exceptions carry only the path ({@code AccessDeniedException: /data/out}), which printed
     * as {@code error: /data/out}; they get their cause in words. Messages vitfit wrote are printed as they are.
     */
    static String message(Throwable ex) {
        if (ex instanceof FileSystemException fs && fs.getReason() == null) {
            return Durable.describe(fs);
        }
        return ex.getMessage() != null ? ex.getMessage() : ex.toString();
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** Reports the version Maven stamped into the jar manifest. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = VitfitCli.class.getPackage().getImplementationVersion();
            return new String[] {"vitfit " + (v == null ? "(development build)" : v)};
        }
    }
}
