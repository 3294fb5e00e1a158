package org.vitfit.spark;

import ai.onnxruntime.OrtException;
import org.vitfit.onnx.Device;
import org.vitfit.onnx.OnnxSessions;
import org.vitfit.runtime.Hashing;
import org.vitfit.runtime.ModelDescriptor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One ONNX Runtime session per executor JVM and model, shared by every task and partition that JVM runs (a session
 * is safe for concurrent {@code run} calls). Loading a ViT costs seconds and hundreds of MB; doing it per task or
 * per partition would dominate small partitions. Sessions live as long as the executor.
 */
final class ExecutorModels {

    /** Identifies a loaded model: the same directory with other bytes (a redeployed model) is another key. */
    record Key(String modelDir, String modelSha256, String device, int intraOpThreads) implements java.io.Serializable {
    }

    /** A model open in this JVM. */
    record Loaded(ModelDescriptor descriptor, OnnxSessions.Opened session) {
    }

    private static final ConcurrentHashMap<Key, Loaded> MODELS = new ConcurrentHashMap<>();

    private ExecutorModels() {
    }

    /** The session for {@code key}, opened on first use in this JVM. */
    static Loaded get(Key key) {
        return MODELS.computeIfAbsent(key, ExecutorModels::open);
    }

    /** Sessions this JVM holds for the model whose {@code model.onnx} has this sha256 (one per device and threads). */
    static long sessionsFor(String modelSha256) {
        return MODELS.keySet().stream().filter(k -> k.modelSha256().equals(modelSha256)).count();
    }

    private static Loaded open(Key key) {
        Path dir = ModelLocation.resolve(key.modelDir());
        Path onnx = dir.resolve(ModelDescriptor.ONNX_FILE_NAME);
        try {
            if (!Files.isRegularFile(dir.resolve(ModelDescriptor.FILE_NAME))) {
                throw new NoSuchFileException(key.modelDir(), null, "no converted model on this "
                        + "executor (looked in " + ModelLocation.searched(key.modelDir()) + "); ship the model with "
                        + "--archives MODEL.zip#NAME and pass --model NAME, or put it on a path every machine can read");
            }
            ModelDescriptor descriptor = ModelDescriptor.read(dir);
            String sha = Hashing.sha256(onnx);
            if (!sha.equals(key.modelSha256())) {
                throw new IOException(onnx + " on this executor has sha256 " + sha + " but the driver planned the job "
                        + "with " + key.modelSha256() + "; give every executor the same converted model directory");
            }
            OnnxSessions.Opened session = OnnxSessions.open(onnx, Device.parse(key.device()), key.intraOpThreads());
            System.err.println("vitfit: executor opened " + onnx + " on " + session.device());
            return new Loaded(descriptor, session);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (OrtException e) {
            throw new IllegalStateException(onnx + ": ONNX Runtime cannot load the model on this executor: "
                    + e.getMessage(), e);
        }
    }
}
