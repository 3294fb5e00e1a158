package org.vitfit.convert;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/** Access to ../shared golden fixtures and a plain ONNX Runtime run for comparing against them. */
final class Golden {

    private Golden() {
    }

    static Path shared() {
        return Path.of(System.getProperty("vitfit.shared", "../shared")).toAbsolutePath().normalize();
    }

    static Path root() {
        return Path.of(System.getProperty("vitfit.root", "..")).toAbsolutePath().normalize();
    }

    /** Raw little-endian float32, as every .f32 fixture is stored. */
    static float[] f32(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[b.remaining() / 4];
        b.asFloatBuffer().get(out);
        return out;
    }

    /** Runs {@code model} on one NCHW batch and returns every output flattened. */
    static Map<String, float[]> run(Path model, float[] pixels, long... shape) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions();
             OrtSession session = env.createSession(model.toString(), opts);
             OnnxTensor input = OnnxTensor.createTensor(env, FloatBuffer.wrap(pixels), shape);
             OrtSession.Result result = session.run(Map.of("pixel_values", input))) {
            Map<String, float[]> out = new HashMap<>();
            for (Map.Entry<String, ai.onnxruntime.OnnxValue> e : result) {
                FloatBuffer fb = ((OnnxTensor) e.getValue()).getFloatBuffer();
                float[] arr = new float[fb.remaining()];
                fb.get(arr);
                out.put(e.getKey(), arr);
            }
            return out;
        }
    }

    static double maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new AssertionError("length " + a.length + " vs " + b.length);
        }
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs((double) a[i] - b[i]));
        }
        return m;
    }

    /** Row {@code i} of a [rows, dim] matrix. */
    static float[] row(float[] m, int i, int dim) {
        float[] r = new float[dim];
        System.arraycopy(m, i * dim, r, 0, dim);
        return r;
    }

    static double cosine(float[] a, float[] b) {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return dot / Math.sqrt(na * nb);
    }
}
