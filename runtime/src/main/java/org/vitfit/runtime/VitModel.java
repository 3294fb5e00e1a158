package org.vitfit.runtime;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import org.vitfit.onnx.Device;
import org.vitfit.onnx.OnnxSessions;
import org.vitfit.preprocess.Preprocessor;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A converted model ready to run: its descriptor, its preprocessor and one ONNX Runtime session.
 * Thread-safe for concurrent {@link #run} calls (ONNX Runtime sessions are); close it to free native memory.
 */
public final class VitModel implements AutoCloseable {

    private final ModelDescriptor descriptor;
    private final Preprocessor preprocessor;
    private final OnnxSessions.Opened opened;
    private final Path dir;

    private VitModel(ModelDescriptor descriptor, OnnxSessions.Opened opened, Path dir) {
        this.descriptor = descriptor;
        this.dir = dir;
        this.preprocessor = new Preprocessor(descriptor.preprocessing());
        this.opened = opened;
    }

    /** Opens the model directory written by {@code vitfit convert}. */
    public static VitModel open(Path dir, Device device, int intraOpThreads) throws IOException {
        ModelDescriptor d = ModelDescriptor.read(dir);
        try {
            return new VitModel(d, OnnxSessions.open(dir.resolve(ModelDescriptor.ONNX_FILE_NAME), device, intraOpThreads),
                    dir);
        } catch (OrtException e) {
            throw new IOException("cannot load " + dir.resolve(ModelDescriptor.ONNX_FILE_NAME) + ": " + e.getMessage(), e);
        }
    }

    public ModelDescriptor descriptor() {
        return descriptor;
    }

    public Preprocessor preprocessor() {
        return preprocessor;
    }

    /** The device the session actually runs on (CPU when CUDA was asked for but is unavailable). */
    public Device device() {
        return opened.device();
    }

    /** Preprocesses {@code images} into one batch and returns the requested outputs, one row per image. */
    public Map<String, float[][]> run(List<BufferedImage> images, Set<String> outputs) throws IOException {
        int h = descriptor.imageHeight();
        int w = descriptor.imageWidth();
        int per = 3 * h * w;
        long bytes = (long) images.size() * per * Float.BYTES;
        if (bytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("a batch of " + images.size() + " images at " + h + "x" + w
                    + " needs " + bytes + " bytes, over one buffer's 2 GiB; pass smaller batches");
        }
        FloatBuffer batch = ByteBuffer.allocateDirect((int) bytes)
                .order(ByteOrder.nativeOrder()).asFloatBuffer();
        for (int i = 0; i < images.size(); i++) {
            preprocessor.apply(images.get(i), batch, i * per);
        }
        return runPixels(batch, images.size(), outputs);
    }

    /** Runs already preprocessed pixel values ([n, 3, H, W] in {@code pixels}, from position 0). */
    public Map<String, float[][]> runPixels(FloatBuffer pixels, int n, Set<String> outputs) throws IOException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        long[] shape = {n, 3, descriptor.imageHeight(), descriptor.imageWidth()};
        try (OnnxTensor input = OnnxTensor.createTensor(env, pixels.position(0), shape);
             OrtSession.Result result = opened.session().run(Map.of("pixel_values", input), outputs)) {
            Map<String, float[][]> out = new LinkedHashMap<>();
            for (Map.Entry<String, OnnxValue> e : result) {
                OnnxTensor t = (OnnxTensor) e.getValue();
                FloatBuffer fb = t.getFloatBuffer();
                int cols = fb.remaining() / n;
                float[][] rows = new float[n][cols];
                for (int i = 0; i < n; i++) {
                    fb.get(rows[i]);
                    int j = Finite.firstNonFinite(rows[i]);
                    if (j >= 0) {
                        // "Finite or refused": a NaN embedding or logit is never handed on as a result.
                        throw new Finite.NonFiniteException("model " + dir + " computed "
                                + rows[i][j] + " in '" + e.getKey() + "' (image " + (i + 1) + " of " + n
                                + ", index " + j + "); the model's weights or this image give non-finite values, "
                                + "so there is no result for it");
                    }
                }
                out.put(e.getKey(), rows);
            }
            return out;
        } catch (OrtException e) {
            throw new IOException("ONNX Runtime failed on a batch of " + n + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() throws IOException {
        try {
            opened.close();
        } catch (OrtException e) {
            throw new IOException("cannot release the ONNX Runtime session of " + descriptor.source() + ": "
                    + e.getMessage(), e);
        }
    }
}
