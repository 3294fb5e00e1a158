package org.vitfit.extract;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import org.vitfit.onnx.Device;
import org.vitfit.onnx.OnnxSessions;
import org.vitfit.runtime.ModelDescriptor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/**
 * The inference stage: one ONNX Runtime session and one direct input buffer of {@code batchSize} images, reused for
 * every batch, so the only allocation per batch is the small {@code [n, D]} output.
 */
public final class BatchEmbedder implements AutoCloseable {

    public static final String INPUT = "pixel_values";
    public static final String OUTPUT = "embedding";

    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final OnnxSessions.Opened opened;
    private final FloatBuffer input;
    private final int batchSize;
    private final int floatsPerImage;
    private final int dimension;
    private final long height;
    private final long width;

    /**
     * @param intraOpThreads ONNX Runtime threads per operator; 0 lets it use every core
     */
    public BatchEmbedder(Path modelDir, ModelDescriptor model, Device device, int batchSize, int intraOpThreads)
            throws IOException {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        }
        this.batchSize = batchSize;
        this.height = model.imageHeight();
        this.width = model.imageWidth();
        this.floatsPerImage = Math.toIntExact(3 * height * width);
        this.dimension = model.embeddingDim();
        Path onnx = modelDir.resolve(ModelDescriptor.ONNX_FILE_NAME);
        try {
            // Decode workers share the cores with inference: an ONNX Runtime thread spinning between runs would
            // burn the core a decoder needs (measured: 2 spinning threads were slower than 1 on a busy 2-core box).
            this.opened = OnnxSessions.open(onnx, device, intraOpThreads,
                    Map.of("session.intra_op.allow_spinning", "0"));
        } catch (OrtException e) {
            throw new IOException(onnx + ": ONNX Runtime cannot load the model: " + e.getMessage(), e);
        }
        try {
            checkSignature(onnx);
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
        long bytes = (long) batchSize * floatsPerImage * Float.BYTES;
        if (bytes > Integer.MAX_VALUE) {
            close();
            throw new IllegalArgumentException("batch size " + batchSize + " needs a " + bytes / (1 << 20)
                    + " MiB input tensor, over the 2 GiB a buffer can hold; use a smaller --batch-size");
        }
        this.input = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder()).asFloatBuffer();
    }

    private void checkSignature(Path onnx) throws IOException {
        OrtSession s = opened.session();
        try {
            if (!s.getInputNames().contains(INPUT) || !s.getOutputNames().contains(OUTPUT)) {
                throw new IOException(onnx + ": inputs " + s.getInputNames() + ", outputs " + s.getOutputNames()
                        + "; a vitfit model has input '" + INPUT + "' and output '" + OUTPUT + "' (re-run vitfit convert)");
            }
            NodeInfo out = s.getOutputInfo().get(OUTPUT);
            if (out.getInfo() instanceof TensorInfo t && t.getShape().length == 2 && t.getShape()[1] > 0
                    && t.getShape()[1] != dimension) {
                throw new IOException(onnx + ": output '" + OUTPUT + "' is " + t.getShape()[1] + " wide, but "
                        + ModelDescriptor.FILE_NAME + " says embeddingDim " + dimension);
            }
        } catch (OrtException e) {
            throw new IOException(onnx + ": cannot read the model signature: " + e.getMessage(), e);
        }
    }

    /** Where the session actually runs (CPU when CUDA was asked for but is unavailable). */
    public Device device() {
        return opened.device();
    }

    public int batchSize() {
        return batchSize;
    }

    public int floatsPerImage() {
        return floatsPerImage;
    }

    public int dimension() {
        return dimension;
    }

    /** Puts one image's {@code pixel_values} into slot {@code slot} of the batch. */
    public void put(int slot, FloatBuffer pixels, int offsetFloats) {
        input.put(slot * floatsPerImage, pixels, offsetFloats, floatsPerImage);
    }

    /** The direct batch buffer itself, image {@code i} at float {@code i * floatsPerImage()}. */
    public FloatBuffer inputBuffer() {
        return input;
    }

    /**
     * Runs the first {@code n} slots and writes their embeddings, row-major {@code [n, dimension]}, into
     * {@code out[outOffset ..]}.
     */
    public void embed(int n, float[] out, int outOffset) throws OrtException {
        if (n < 1 || n > batchSize) {
            throw new IllegalArgumentException("batch of " + n + " images, the buffer holds 1.." + batchSize);
        }
        // A duplicate shares the direct memory: ONNX Runtime reads the images in place, no copy.
        FloatBuffer view = input.duplicate();
        view.position(0).limit(n * floatsPerImage);
        try (OnnxTensor tensor = OnnxTensor.createTensor(env, view, new long[] {n, 3, height, width});
             OrtSession.Result result = opened.session().run(Map.of(INPUT, tensor), Set.of(OUTPUT))) {
            OnnxValue value = result.get(OUTPUT).orElseThrow();
            FloatBuffer embeddings = ((OnnxTensor) value).getFloatBuffer();
            if (embeddings.remaining() != n * dimension) {
                throw new IllegalStateException("model returned " + embeddings.remaining() + " values for " + n
                        + " images of dimension " + dimension);
            }
            embeddings.get(out, outOffset, n * dimension);
        }
    }

    @Override
    public void close() {
        try {
            opened.close();
        } catch (OrtException e) {
            // Closing a session only frees memory; nothing the caller could do differently.
        }
    }
}
