package org.vitfit.cli;

import org.vitfit.classify.VitClassifier;
import org.vitfit.onnx.Device;
import org.vitfit.runtime.OptionBounds;
import org.vitfit.serve.ClassifierServer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

@Command(name = "serve",
        description = {
                "Serve an exported classifier over HTTP, with a web page to try it.",
                "",
                "GET /         a page: drop or pick an image, see it and the top labels with probability bars",
                "POST /predict multipart/form-data (file field 'image') or the raw image bytes (image/* or",
                "              application/octet-stream); ?top_k=K; answers JSON {\"top\":[{\"index\",\"label\",\"score\"}],",
                "              \"labels\":[...], \"image\":{\"width\",\"height\"}, ...}; errors are JSON too",
                "GET /info     labels, task, limits;  GET /health;  HEAD works wherever GET does",
                "",
                "A slow client costs a connection, not a thread: requests are read without blocking, one that sends",
                "nothing for --idle-timeout seconds is answered 408, and only complete requests wait for one of the",
                "--threads inference threads. Every error is JSON: {\"error\":{\"status\",\"code\",\"message\"}}.",
                "",
                "Runs until interrupted (Ctrl-C). Binds 127.0.0.1 unless --host says otherwise.",
                "",
                "Examples:",
                "  vitfit serve --classifier target/pets.vitfit --port 8080",
                "  curl -F image=@photo.jpg http://127.0.0.1:8080/predict",
        },
        mixinStandardHelpOptions = true)
final class ServeCommand implements Callable<Integer> {

    @Option(names = "--classifier", required = true, paramLabel = "FILE", description = "Classifier written by 'vitfit export'.")
    Path classifier;

    @Option(names = "--port", defaultValue = "8080", paramLabel = "N", description = "TCP port, 0 for any free one (default ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--host", defaultValue = "127.0.0.1", paramLabel = "ADDRESS",
            description = "Address to bind (default ${DEFAULT-VALUE}; 0.0.0.0 to accept other machines).")
    String host;

    @Option(names = "--max-upload-mb", defaultValue = "20", paramLabel = "MB", description = "Largest accepted upload (default ${DEFAULT-VALUE}).")
    int maxUploadMb;

    @Option(names = "--max-megapixels", defaultValue = "50", paramLabel = "MP",
            description = "Largest accepted image, checked before decoding (default ${DEFAULT-VALUE}).")
    int maxMegapixels;

    @Option(names = "--threads", paramLabel = "N",
            description = "Images decoded and classified at once (default: the number of cores, at least 2).")
    Integer threads;

    @Option(names = "--idle-timeout", defaultValue = "10", paramLabel = "SECONDS",
            description = "Close a connection that sends nothing for this long; a stalled request gets 408 (default ${DEFAULT-VALUE}).")
    double idleTimeoutSeconds;

    @Option(names = "--max-connections", defaultValue = "512", paramLabel = "N",
            description = "Connections open at once; more wait to be accepted (default ${DEFAULT-VALUE}).")
    int maxConnections;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|cuda[:N]", description = "Where to run (default ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--quiet", description = "Do not print a line per request.")
    boolean quiet;

    /** Largest --max-connections: each open connection holds a file descriptor and buffers. */
    static final int MAX_CONNECTIONS = 65_536;
    /** Largest --max-megapixels: a Java image holds at most 2^31 pixels. */
    static final int MAX_MEGAPIXELS = 2_147;
    /** Largest --max-upload-mb: an upload is held in one Java array, at most 2 GiB. */
    static final int MAX_UPLOAD_MB = 2_047;

    /** Counted down by the shutdown hook; the command thread waits on it (or is interrupted). */
    private final CountDownLatch stopped = new CountDownLatch(1);
    /** Counted down once the server and classifier are closed, so Ctrl-C lets requests in flight finish. */
    private final CountDownLatch closed = new CountDownLatch(1);

    @Override
    public Integer call() throws Exception {
        checkOptions(Runtime.getRuntime().maxMemory());
        ClassifierServer.Options options = ClassifierServer.Options.defaults().withHost(host).withPort(port)
                .withMaxUploadBytes((long) maxUploadMb << 20).withMaxPixels(maxMegapixels * 1_000_000L)
                .withIdleTimeoutMillis(Math.round(idleTimeoutSeconds * 1000)).withMaxConnections(maxConnections)
                .withAccessLog(quiet ? null : System.err);
        if (threads != null) {
            options = options.withThreads(threads);
        }
        Thread hook = new Thread(() -> {
            stopped.countDown();
            try {
                closed.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "vitfit-serve-shutdown");
        try (VitClassifier c = VitClassifier.load(classifier, Device.parse(device), 0);
             ClassifierServer server = ClassifierServer.start(c, options)) {
            Runtime.getRuntime().addShutdownHook(hook);
            System.out.printf("serving %s (%s, %d labels, %s) at %s  (Ctrl-C to stop)%n", classifier,
                    c.descriptor().task(), c.labels().size(), c.device(), server.uri());
            System.out.flush();
            try {
                stopped.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        } finally {
            closed.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException alreadyShuttingDown) {
                // the JVM is exiting through the hook, which is waiting for 'closed'
            }
        }
        return 0;
    }

    /** Refuses absurd values before the classifier is loaded; {@code heapBytes} is what Java may use. */
    void checkOptions(long heapBytes) {
        OptionBounds.require("--port", port, 0, 65_535, "TCP port; 0 picks a free one");
        OptionBounds.require("--max-upload-mb", maxUploadMb, 1, MAX_UPLOAD_MB, "largest upload in MB, held in "
                + "memory while it is decoded");
        long heapMb = heapBytes >> 20;
        if (maxUploadMb > heapMb) {
            throw new IllegalArgumentException("--max-upload-mb " + maxUploadMb + " is more than the " + heapMb
                    + " MB Java may use, and an upload is held in memory while it is decoded: lower it, or give Java "
                    + "more memory (VITFIT_JAVA_OPTS=-Xmx" + Math.max(2, (4L * maxUploadMb >> 10) + 1) + "g)");
        }
        OptionBounds.require("--max-megapixels", maxMegapixels, 1, MAX_MEGAPIXELS, "largest image, checked before "
                + "decoding; a Java image holds at most 2147 megapixels");
        if (threads != null) {
            OptionBounds.require("--threads", threads, 1, OptionBounds.MAX_THREADS, "images decoded and classified "
                    + "at once; the default is the number of cores");
        }
        OptionBounds.require("--idle-timeout", idleTimeoutSeconds, 0.1, 3600, "seconds a connection may send "
                + "nothing");
        OptionBounds.require("--max-connections", maxConnections, 1, MAX_CONNECTIONS, "connections open at once, "
                + "each holding a file descriptor; more wait to be accepted");
    }
}
