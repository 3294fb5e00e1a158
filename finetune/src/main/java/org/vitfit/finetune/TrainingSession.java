package org.vitfit.finetune;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import org.vitfit.onnx.Device;
import org.vitfit.onnx.OnnxSessions;
import org.vitfit.runtime.VitfitVersion;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * Runs the training graphs in ONNX Runtime. The flat parameter vector and its two AdamW moments live in two sets of
 * direct buffers: a step reads one set and ONNX Runtime writes the updated values straight into the other (pinned
 * outputs), then the roles swap. Nothing is allocated, copied or handed to the Java heap per step except the
 * logits; the buffers are read in place for checkpoints.
 */
public final class TrainingSession implements AutoCloseable {

    /** AdamW and clipping settings for one step; {@code maxGradNorm} = +Infinity disables clipping. */
    public record Hyper(float lrBackbone, float lrHead, float weightDecay, float beta1, float beta2, float epsilon,
                        float maxGradNorm) {
    }

    /** What a training step reports: the loss before the update, the gradient norm before clipping, the logits. */
    public record StepResult(float loss, float gradNorm, float[] logits) {
    }

    /** Loss, logits and the flat gradient for one batch (no update). */
    public record Gradients(float loss, float[] logits, float[] flat) {
        /** The gradient of one trainable tensor. */
        public float[] of(TrainableParameters.Param p) {
            float[] out = new float[p.size()];
            System.arraycopy(flat, p.offset(), out, 0, p.size());
            return out;
        }
    }

    /** Opens a session for a training graph; tests and the benchmark pass one with profiling or other settings. */
    @FunctionalInterface
    public interface Opener {
        OnnxSessions.Opened open(byte[] model) throws OrtException;
    }

    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final TrainableParameters layout;
    private final TrainingGraph.Loss loss;
    private final Opener opener;
    private final int classes;
    private final Map<TrainingGraph.Mode, OnnxSessions.Opened> sessions = new EnumMap<>(TrainingGraph.Mode.class);
    private final FloatBuffer[] params = new FloatBuffer[2];
    private final FloatBuffer[] firstMoment = new FloatBuffer[2];
    private final FloatBuffer[] secondMoment = new FloatBuffer[2];
    private final OnnxTensor[] paramTensors = new OnnxTensor[2];
    private final OnnxTensor[] firstTensors = new OnnxTensor[2];
    private final OnnxTensor[] secondTensors = new OnnxTensor[2];
    private int current;
    private long steps;

    /**
     * @param m,v   AdamW moments to resume from (flat, like the parameters); null starts at zero
     * @param steps optimiser steps already taken (for bias correction when resuming)
     */
    public TrainingSession(TrainableParameters initial, TrainingGraph.Loss loss, Device device, int threads,
                           float[] m, float[] v, long steps) throws OrtException {
        this(initial, loss, model -> OnnxSessions.open(model, device, tuning(threads)), m, v, steps);
    }

    /**
     * Session settings for training graphs: {@link OnnxSessions}' defaults without the memory pattern. ONNX Runtime
     * plans that pattern on the second run of a shape and allocates it as one new block beside what the first run
     * left in its arena: 3.0 GB peak instead of 1.7 GB for a ViT-Tiny step at batch 32, at the same speed.
     */
    public static OnnxSessions.Tuning tuning(int threads) {
        OnnxSessions.Tuning d = OnnxSessions.Tuning.defaults(threads);
        return new OnnxSessions.Tuning(d.intraOpThreads(), d.interOpThreads(), d.memoryArena(), false,
                d.optimizedModelCache(), d.config());
    }

    public TrainingSession(TrainableParameters initial, TrainingGraph.Loss loss, Opener opener, float[] m, float[] v,
                           long steps) throws OrtException {
        this.layout = initial;
        this.loss = loss;
        this.opener = opener;
        this.steps = steps;
        this.classes = (int) initial.param(TrainableParameters.HEAD + ".weight").shape()[1];
        int size = initial.size();
        for (float[] given : new float[][] {m, v}) {
            if (given != null && given.length != size) {
                throw new IllegalArgumentException("resumed AdamW moments hold " + given.length + " values, the "
                        + "trainable parameters " + size);
            }
        }
        try {
            for (int i = 0; i < 2; i++) {
                params[i] = direct(size);
                firstMoment[i] = direct(size);
                secondMoment[i] = direct(size);
                long[] shape = {size};
                paramTensors[i] = OnnxTensor.createTensor(env, params[i], shape);
                firstTensors[i] = OnnxTensor.createTensor(env, firstMoment[i], shape);
                secondTensors[i] = OnnxTensor.createTensor(env, secondMoment[i], shape);
            }
        } catch (OrtException | RuntimeException e) {
            closeBuffers();
            throw e;
        }
        params[0].put(0, initial.flat());
        if (m != null) {
            firstMoment[0].put(0, m);
        }
        if (v != null) {
            secondMoment[0].put(0, v);
        }
    }

    /** A zeroed direct buffer in native order: ONNX Runtime reads and writes it in place. */
    public static FloatBuffer direct(int floats) {
        return ByteBuffer.allocateDirect(Math.multiplyExact(floats, Float.BYTES)).order(ByteOrder.nativeOrder())
                .asFloatBuffer();
    }

    /** The first {@code floats} values of {@code b} as a buffer of exactly that size (what a tensor needs). */
    public static FloatBuffer view(FloatBuffer b, int floats) {
        return b.duplicate().clear().limit(floats).slice();
    }

    public TrainableParameters layout() {
        return layout;
    }

    public long steps() {
        return steps;
    }

    public Device device() throws OrtException {
        return session(TrainingGraph.Mode.FORWARD).device();
    }

    /** The input tensor the graph expects ({@code pixel_values}, {@code tokens} or {@code embedding}), by name. */
    public String inputName() {
        return switch (layout.input()) {
            case PIXELS -> TrainingGraph.PIXELS;
            case TOKENS -> TrainingGraph.TOKENS;
            case EMBEDDING -> TrainingGraph.EMBEDDING;
        };
    }

    /**
     * One AdamW step on a batch of {@code n} rows; {@code targets} is [n, classes]. A non-finite loss or gradient
     * norm is refused before the parameters change (the update went into the other buffer set, which is dropped).
     */
    public StepResult step(OnnxTensor input, int n, float[] targets, Hyper h) throws OrtException {
        OrtSession session = session(TrainingGraph.Mode.TRAIN_STEP).session();
        long t = steps + 1;
        int next = 1 - current;
        Map<String, OnnxTensor> inputs = new HashMap<>();
        Map<String, OnnxTensor> temporary = new HashMap<>();
        try {
            inputs.put(inputName(), input);
            temporary.put(TrainingGraph.TARGETS, OnnxTensor.createTensor(env, FloatBuffer.wrap(targets),
                    new long[] {n, classes}));
            temporary.put(TrainingGraph.LR_BACKBONE, OnnxTensor.createTensor(env, h.lrBackbone()));
            temporary.put(TrainingGraph.LR_HEAD, OnnxTensor.createTensor(env, h.lrHead()));
            temporary.put(TrainingGraph.WEIGHT_DECAY, OnnxTensor.createTensor(env, h.weightDecay()));
            temporary.put(TrainingGraph.BETA1, OnnxTensor.createTensor(env, h.beta1()));
            temporary.put(TrainingGraph.BETA2, OnnxTensor.createTensor(env, h.beta2()));
            temporary.put(TrainingGraph.EPSILON, OnnxTensor.createTensor(env, h.epsilon()));
            temporary.put(TrainingGraph.BIAS_CORRECTION1, OnnxTensor.createTensor(env, (float) (1 - Math.pow(h.beta1(), t))));
            temporary.put(TrainingGraph.BIAS_CORRECTION2, OnnxTensor.createTensor(env, (float) (1 - Math.pow(h.beta2(), t))));
            temporary.put(TrainingGraph.MAX_GRAD_NORM, OnnxTensor.createTensor(env, h.maxGradNorm()));
            inputs.putAll(temporary);
            inputs.put(TrainingGraph.PARAMS, paramTensors[current]);
            inputs.put(TrainingGraph.FIRST_MOMENT, firstTensors[current]);
            inputs.put(TrainingGraph.SECOND_MOMENT, secondTensors[current]);
            Map<String, OnnxValue> pinned = Map.of(TrainingGraph.NEW_PARAMS, paramTensors[next],
                    TrainingGraph.NEW_FIRST_MOMENT, firstTensors[next], TrainingGraph.NEW_SECOND_MOMENT,
                    secondTensors[next]);
            try (OrtSession.Result r = session.run(inputs, Set.of(TrainingGraph.LOSS, TrainingGraph.GRAD_NORM,
                    TrainingGraph.LOGITS), pinned)) {
                float lossValue = scalar(r, TrainingGraph.LOSS);
                float gradNorm = scalar(r, TrainingGraph.GRAD_NORM);
                if (!Float.isFinite(lossValue) || !Float.isFinite(gradNorm)) {
                    throw new NonFiniteTrainingException("training diverged at step " + t + ": loss " + lossValue
                            + ", gradient norm " + gradNorm + "; the weights of the step before are kept. Lower "
                            + "the learning rates (--lr-backbone, --lr-head) or enable clipping (--clip 1)");
                }
                float[] logits = floats(r, TrainingGraph.LOGITS);
                current = next;
                steps = t;
                return new StepResult(lossValue, gradNorm, logits);
            }
        } finally {
            temporary.values().forEach(OnnxTensor::close);
        }
    }

    /** Logits [n, classes] of the current parameters. */
    public float[] logits(OnnxTensor input) throws OrtException {
        OrtSession session = session(TrainingGraph.Mode.FORWARD).session();
        Map<String, OnnxTensor> inputs = Map.of(inputName(), input, TrainingGraph.PARAMS, paramTensors[current]);
        try (OrtSession.Result r = session.run(inputs)) {
            return floats(r, TrainingGraph.LOGITS);
        }
    }

    /** Loss, logits and the flat gradient of the current parameters on one batch. */
    public Gradients gradients(OnnxTensor input, int n, float[] targets) throws OrtException {
        OrtSession session = session(TrainingGraph.Mode.GRADIENTS).session();
        try (OnnxTensor y = OnnxTensor.createTensor(env, FloatBuffer.wrap(targets), new long[] {n, classes})) {
            Map<String, OnnxTensor> inputs = Map.of(inputName(), input, TrainingGraph.TARGETS, y,
                    TrainingGraph.PARAMS, paramTensors[current]);
            try (OrtSession.Result r = session.run(inputs)) {
                return new Gradients(scalar(r, TrainingGraph.LOSS), floats(r, TrainingGraph.LOGITS),
                        floats(r, TrainingGraph.GRADIENTS));
            }
        }
    }

    /** Read-only views of the current parameters and moments (flat), valid until the next step. */
    public FloatBuffer parameters() {
        return params[current].duplicate().rewind().asReadOnlyBuffer();
    }

    public FloatBuffer firstMoment() {
        return firstMoment[current].duplicate().rewind().asReadOnlyBuffer();
    }

    public FloatBuffer secondMoment() {
        return secondMoment[current].duplicate().rewind().asReadOnlyBuffer();
    }

    /** A copy of the current parameters as a layout with these values. */
    public TrainableParameters current() {
        float[] v = new float[layout.size()];
        params[current].get(0, v);
        return layout.withFlat(v);
    }

    static float[] copy(FloatBuffer b) {
        float[] out = new float[b.remaining()];
        b.duplicate().get(out);
        return out;
    }

    private OnnxSessions.Opened session(TrainingGraph.Mode mode) throws OrtException {
        OnnxSessions.Opened s = sessions.get(mode);
        if (s == null) {
            // In memory: the per-run graphs have no use for the runtime's on-disk cache of optimised models.
            ModelProto model = TrainingGraph.build(layout, mode, loss, VitfitVersion.get());
            s = opener.open(model.toByteArray());
            sessions.put(mode, s);
        }
        return s;
    }

    private static OnnxTensor tensor(OrtSession.Result r, String name) {
        OnnxValue v = r.get(name).orElseThrow(() -> new IllegalStateException("training graph has no output " + name));
        return (OnnxTensor) v;
    }

    private static float[] floats(OrtSession.Result r, String name) {
        return copy(tensor(r, name).getFloatBuffer());
    }

    private static float scalar(OrtSession.Result r, String name) {
        return tensor(r, name).getFloatBuffer().get(0);
    }

    private void closeBuffers() {
        for (OnnxTensor[] set : new OnnxTensor[][] {paramTensors, firstTensors, secondTensors}) {
            for (int i = 0; i < set.length; i++) {
                if (set[i] != null) {
                    set[i].close();
                    set[i] = null;
                }
            }
        }
    }

    @Override
    public void close() throws OrtException {
        closeBuffers();
        for (OnnxSessions.Opened s : sessions.values()) {
            s.close();
        }
        sessions.clear();
    }

    /** Training produced a non-finite loss or gradient: nothing of that step was kept. */
    public static final class NonFiniteTrainingException extends IllegalStateException {
        private static final long serialVersionUID = 1L;

        NonFiniteTrainingException(String message) {
            super(message);
        }
    }
}
