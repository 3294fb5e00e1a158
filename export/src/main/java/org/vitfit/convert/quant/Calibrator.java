package org.vitfit.convert.quant;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import org.vitfit.convert.ConversionException;
import org.vitfit.convert.LinearEmitter;
import org.vitfit.convert.Precision;
import org.vitfit.convert.VitGraphBuilder;
import org.vitfit.convert.VitParameters;
import org.vitfit.convert.graph.OnnxGraph;
import org.vitfit.onnx.Device;
import org.vitfit.onnx.OnnxSessions;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.preprocess.PreprocessRecipe;
import org.vitfit.preprocess.Preprocessor;
import org.vitfit.runtime.Finite;
import org.vitfit.runtime.Hashing;
import org.vitfit.runtime.VitfitVersion;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Measures the activation ranges static int8 needs, by running the float model over calibration images: the fp32
 * graph of the same builder, with a probe on every product input that reduces it to its per-channel minimum and
 * maximum inside ONNX Runtime (so only a few numbers per layer leave the session, not the activations).
 *
 * <p>Images are decoded and preprocessed by the runtime's {@link ImageDecoder} and {@link Preprocessor} with the
 * model's own recipe: the same pixels the extractor will feed the model.
 */
public final class Calibrator {

    /** Images measured by default: enough for stable maxima (more changes the scales by well under a percent). */
    public static final int DEFAULT_IMAGES = 256;
    /** Fewer images than this and the maxima describe a handful of photos, not the user's data. */
    public static final int MIN_IMAGES = 16;
    private static final int BATCH = 8;

    private Calibrator() {
    }

    /**
     * Up to {@code max} of {@code all}, evenly spaced through the list so that every part of a sorted image folder
     * (every class of an ImageFolder tree) is represented; deterministic.
     */
    public static List<Path> sample(List<Path> all, int max) {
        if (all.size() <= max) {
            return List.copyOf(all);
        }
        List<Path> picked = new ArrayList<>(max);
        for (int i = 0; i < max; i++) {
            picked.add(all.get((int) ((long) i * all.size() / max)));
        }
        return picked;
    }

    /**
     * Runs the fp32 model {@code p} over {@code images} (preprocessed with {@code recipe}) on {@code threads} ONNX
     * Runtime threads (0 = one per core) and returns the measured ranges. Images that cannot be decoded are left out
     * and counted; fewer than {@link #MIN_IMAGES} usable images is an error.
     *
     * @param progress receives a short line now and then (may be a no-op)
     */
    public static Calibration calibrate(VitParameters p, PreprocessRecipe recipe, List<Path> images, int threads,
                                        Consumer<String> progress) throws IOException {
        Probe probe = new Probe();
        byte[] model = VitGraphBuilder.build(p, VitfitVersion.get(), Map.of(), Precision.FP32, probe).model()
                .toByteArray();
        ImageDecoder decoder = ImageDecoder.forRecipe(recipe);
        Preprocessor pre = new Preprocessor(recipe);
        int perImage = pre.floatsPerImage();
        Map<String, float[]> min = new LinkedHashMap<>();
        Map<String, float[]> max = new LinkedHashMap<>();
        Map<String, FloatList> tokens = new LinkedHashMap<>();
        MessageDigest digest = Hashing.sha256();
        int used = 0;
        int skipped = 0;
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OnnxSessions.Opened s = OnnxSessions.open(model, Device.CPU, threads)) {
            FloatBuffer batch = ByteBuffer.allocateDirect(BATCH * perImage * Float.BYTES)
                    .order(ByteOrder.nativeOrder()).asFloatBuffer();
            int filled = 0;
            for (int i = 0; i <= images.size(); i++) {
                if (i < images.size()) {
                    Path file = images.get(i);
                    try {
                        byte[] bytes = Files.readAllBytes(file);
                        pre.apply(decoder.decode(bytes, file.toString()), batch, filled * perImage);
                        digest.update(Hashing.sha256(bytes).getBytes(StandardCharsets.US_ASCII));
                        filled++;
                    } catch (IOException e) {
                        skipped++;
                        progress.accept("calibration: skipping " + file + ": " + e.getMessage());
                    }
                }
                if (filled == BATCH || (i == images.size() && filled > 0)) {
                    run(env, s.session(), batch, filled, pre, probe, min, max, tokens);
                    used += filled;
                    filled = 0;
                    if (used % (BATCH * 8) == 0) {
                        progress.accept("calibration: " + used + " images");
                    }
                }
            }
        } catch (OrtException e) {
            throw new IOException("calibration run failed: " + e.getMessage(), e);
        }
        if (used < MIN_IMAGES) {
            throw new ConversionException("int8 calibration needs at least " + MIN_IMAGES + " images that decode; got "
                    + used + (skipped > 0 ? " (" + skipped + " could not be decoded)" : "")
                    + ". Give --calibration a folder with a few hundred images like the ones you will embed.");
        }
        Map<String, Calibration.Range> ranges = new LinkedHashMap<>();
        for (String key : min.keySet()) {
            Finite.require(min.get(key), "calibration minimum of " + key,
                    "the float model overflows on these images; int8 cannot be calibrated on them");
            Finite.require(max.get(key), "calibration maximum of " + key,
                    "the float model overflows on these images; int8 cannot be calibrated on them");
            ranges.put(key, new Calibration.Range(min.get(key), max.get(key)));
        }
        Map<String, Double> outliers = new LinkedHashMap<>();
        for (Map.Entry<String, FloatList> e : tokens.entrySet()) {
            float[] v = e.getValue().toArray();
            Arrays.sort(v);
            float median = v[v.length / 2];
            outliers.put(e.getKey(), median > 0 ? v[v.length - 1] / (double) median : 1.0);
        }
        return new Calibration(ranges, outliers, used, skipped, HexFormat.of().formatHex(digest.digest()));
    }

    /** A growable float array (a few hundred thousand token maxima per layer at most). */
    private static final class FloatList {
        private float[] values = new float[1024];
        private int size;

        void addAll(float[] more) {
            if (size + more.length > values.length) {
                values = Arrays.copyOf(values, Math.max(values.length * 2, size + more.length));
            }
            System.arraycopy(more, 0, values, size, more.length);
            size += more.length;
        }

        float[] toArray() {
            return Arrays.copyOf(values, size);
        }
    }

    private static void run(OrtEnvironment env, OrtSession session, FloatBuffer batch, int n, Preprocessor pre,
                            Probe probe, Map<String, float[]> min, Map<String, float[]> max,
                            Map<String, FloatList> tokens) throws OrtException {
        FloatBuffer view = batch.duplicate().position(0).limit(n * pre.floatsPerImage()).slice();
        try (OnnxTensor input = OnnxTensor.createTensor(env, view,
                new long[] {n, 3, pre.outputHeight(), pre.outputWidth()});
             OrtSession.Result r = session.run(Map.of(VitGraphBuilder.INPUT, input), probe.outputs())) {
            for (Probe.Tap t : probe.taps) {
                merge(min, t.key, (float[]) r.get(t.minOutput).orElseThrow().getValue(), true);
                merge(max, t.key, (float[]) r.get(t.maxOutput).orElseThrow().getValue(), false);
            }
            for (Map.Entry<String, String> e : probe.tokenMaxima.entrySet()) {
                float[][] perImage = (float[][]) r.get(e.getValue()).orElseThrow().getValue();
                FloatList list = tokens.computeIfAbsent(e.getKey(), k -> new FloatList());
                for (float[] row : perImage) {
                    list.addAll(row);
                }
            }
        }
    }

    private static void merge(Map<String, float[]> into, String key, float[] values, boolean lower) {
        float[] acc = into.get(key);
        if (acc == null) {
            into.put(key, values.clone());
            return;
        }
        for (int c = 0; c < acc.length; c++) {
            acc[c] = lower ? Math.min(acc[c], values[c]) : Math.max(acc[c], values[c]);
        }
    }

    /** The float graph plus per-channel min/max of every product input as extra outputs. */
    static final class Probe implements LinearEmitter {
        record Tap(String key, String minOutput, String maxOutput) {
        }

        final List<Tap> taps = new ArrayList<>();
        final Map<String, String> tokenMaxima = new LinkedHashMap<>();

        Set<String> outputs() {
            Set<String> names = new LinkedHashSet<>();
            for (Tap t : taps) {
                names.add(t.minOutput);
                names.add(t.maxOutput);
            }
            names.addAll(tokenMaxima.values());
            return names;
        }

        @Override
        public String emit(OnnxGraph g, String name, String x, VitParameters.Linear l) {
            if (name.startsWith("blocks.")) {
                tap(g, name, x, (int) l.weight().dim(0));
                if (name.endsWith(".fc2")) {
                    // Largest |x| of every token: [N, T] leaves the session, a few hundred floats per image.
                    String abs = g.op("Abs", "calibration/" + name + "/abs", x);
                    String perToken = g.op("ReduceMax", "calibration/" + name + "/token_max",
                            Map.of("axes", new long[] {-1}, "keepdims", 0L), abs);
                    String out = "calibration/" + name + "/token_max";
                    g.floatOutput(perToken, out, "batch", "tokens");
                    tokenMaxima.put(name, out);
                }
            }
            return FLOAT.emit(g, name, x, l);
        }

        /** Min and max over everything but the last axis ({@code channels} wide). */
        private void tap(OnnxGraph g, String key, String x, int channels) {
            String flat = g.op("Reshape", "calibration/" + key + "/flat", x,
                    g.int64Initializer("calibration/" + key + "/shape", -1, channels));
            Map<String, Object> attrs = Map.of("axes", new long[] {0}, "keepdims", 0L);
            String lo = g.op("ReduceMin", "calibration/" + key + "/reduce_min", attrs, flat);
            String hi = g.op("ReduceMax", "calibration/" + key + "/reduce_max", attrs, flat);
            String minOut = "calibration/" + key + "/min";
            String maxOut = "calibration/" + key + "/max";
            g.floatOutput(lo, minOut, channels);
            g.floatOutput(hi, maxOut, channels);
            taps.add(new Tap(key, minOut, maxOut));
        }
    }
}
