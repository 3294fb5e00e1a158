package org.vitfit.onnx;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

import java.nio.file.Path;
import java.util.Map;

/**
 * The one place that opens ONNX Runtime sessions, so every command picks the execution provider the
 * same way: CUDA when asked for and available, otherwise CPU with a one-line warning.
 */
public final class OnnxSessions {

    private OnnxSessions() {
    }

    /** An open session together with the device it actually runs on (which may differ from the one asked for). */
    public record Opened(OrtSession session, Device device) implements AutoCloseable {
        @Override
        public void close() throws OrtException {
            session.close();
        }
    }

    /**
     * Opens {@code model} on {@code wanted}.
     *
     * @param intraOpThreads threads ONNX Runtime may use inside one operator; 0 lets it choose
     */
    public static Opened open(Path model, Device wanted, int intraOpThreads) throws OrtException {
        return open(model, wanted, intraOpThreads, Map.of());
    }

    /**
     * Opens {@code model} on {@code wanted} with extra session configuration entries
     * ({@code SessionOptions.addConfigEntry}, e.g. {@code session.intra_op.allow_spinning=0}).
     *
     * @param intraOpThreads threads ONNX Runtime may use inside one operator; 0 lets it choose
     */
    public static Opened open(Path model, Device wanted, int intraOpThreads, Map<String, String> sessionConfig)
            throws OrtException {
        return open((env, options) -> env.createSession(model.toString(), options), wanted, intraOpThreads,
                sessionConfig);
    }

    /**
     * Opens a model held in memory (e.g. read from an archive entry) on {@code wanted}, so it never has to be
     * unpacked to a temporary file.
     *
     * @param intraOpThreads threads ONNX Runtime may use inside one operator; 0 lets it choose
     */
    public static Opened open(byte[] model, Device wanted, int intraOpThreads) throws OrtException {
        return open((env, options) -> env.createSession(model, options), wanted, intraOpThreads, Map.of());
    }

    private interface SessionFactory {
        OrtSession create(OrtEnvironment env, OrtSession.SessionOptions options) throws OrtException;
    }

    private static Opened open(SessionFactory factory, Device wanted, int intraOpThreads,
                               Map<String, String> sessionConfig) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions options = baseOptions(intraOpThreads, sessionConfig)) {
            if (wanted.kind() == Device.Kind.CUDA) {
                try {
                    options.addCUDA(wanted.id());
                    return new Opened(factory.create(env, options), wanted);
                } catch (OrtException | UnsatisfiedLinkError | IllegalArgumentException e) {
                    System.err.println("warning: CUDA device " + wanted.id() + " unavailable ("
                            + firstLine(e.getMessage()) + "); running on CPU. Build with -Pgpu on a machine "
                            + "with CUDA 12 and cuDNN 9 to use the GPU.");
                }
            }
        }
        try (OrtSession.SessionOptions options = baseOptions(intraOpThreads, sessionConfig)) {
            return new Opened(factory.create(env, options), Device.CPU);
        }
    }

    private static OrtSession.SessionOptions baseOptions(int intraOpThreads, Map<String, String> sessionConfig)
            throws OrtException {
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        if (intraOpThreads > 0) {
            options.setIntraOpNumThreads(intraOpThreads);
        }
        for (Map.Entry<String, String> e : sessionConfig.entrySet()) {
            options.addConfigEntry(e.getKey(), e.getValue());
        }
        return options;
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "no detail";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
