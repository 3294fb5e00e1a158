package org.vitfit.finetune;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import org.vitfit.convert.VitSpec;
import org.vitfit.onnx.Device;
import org.vitfit.onnx.OnnxSessions;
import org.vitfit.runtime.VitfitVersion;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs the training graphs in ONNX Runtime. Parameters and AdamW moments live in {@link OnnxTensor}s: each
 * step's outputs become the next step's inputs without a round trip through Java arrays (the previous step's
 * result is closed once the new one exists). Java copies happen only for checkpoints and the final model.
 */
public final class TrainingSession implements AutoCloseable {

    /** AdamW and clipping settings for one step; {@code maxGradNorm} = +Infinity disables clipping. */
    public record Hyper(float lrBackbone, float lrHead, float weightDecay, float beta1, float beta2, float epsilon,
                        float maxGradNorm) {
    }

    /** What a training step reports: the loss before the update, the gradient norm before clipping, the logits. */
    public record StepResult(float loss, float gradNorm, float[] logits) {
    }

    /** Loss, logits and every parameter gradient for one batch (no update). */
    public record Gradients(float loss, float[] logits, Map<String, float[]> grads) {
    }

    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final VitSpec spec;
    private final List<TrainableParameters.Param> params;
    private final TrainingGraph.Loss loss;
    private final Device wanted;
    private final int threads;
    private final int classes;
    private final Map<TrainingGraph.Mode, OnnxSessions.Opened> sessions = new HashMap<>();
    private final Map<String, OnnxTensor> state = new LinkedHashMap<>();
    /** What owns the tensors in {@link #state}: the tensors themselves at first, later the last step's result. */
    private final List<AutoCloseable> stateOwners = new ArrayList<>();
    private long steps;

    /**
     * @param moments AdamW moments to resume from, keyed {@code m.NAME} / {@code v.NAME}; null starts at zero
     * @param steps   optimiser steps already taken (for bias correction when resuming)
     */
    public TrainingSession(VitSpec spec, TrainableParameters initial, TrainingGraph.Loss loss, Device device,
                           int threads, Map<String, float[]> moments, long steps) throws OrtException {
        this.spec = spec;
        this.params = initial.params();
        this.loss = loss;
        this.wanted = device;
        this.threads = threads;
        this.steps = steps;
        this.classes = (int) initial.tensor(TrainableParameters.HEAD + ".weight").dim(1);
        try {
            for (TrainableParameters.Param p : params) {
                put(p.name(), initial.value(p.name()), p.shape());
                String m = TrainingGraph.firstMomentName(p.name());
                String v = TrainingGraph.secondMomentName(p.name());
                put(m, moments == null ? new float[p.size()] : moments.get(m), p.shape());
                put(v, moments == null ? new float[p.size()] : moments.get(v), p.shape());
            }
        } catch (OrtException | RuntimeException e) {
            closeState();
            throw e;
        }
    }

    private void put(String name, float[] values, long[] shape) throws OrtException {
        if (values == null) {
            throw new IllegalArgumentException("no values for " + name + " in the resumed optimiser state");
        }
        OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.wrap(values), shape);
        state.put(name, t);
        stateOwners.add(t);
    }

    public long steps() {
        return steps;
    }

    public Device device() throws OrtException {
        return session(TrainingGraph.Mode.FORWARD).device();
    }

    /** One AdamW step on a batch of {@code n} images; {@code targets} is [n, classes]. */
    public StepResult step(float[] pixels, int n, float[] targets, Hyper h) throws OrtException {
        OrtSession session = session(TrainingGraph.Mode.TRAIN_STEP).session();
        long t = steps + 1;
        List<OnnxTensor> temporary = new ArrayList<>();
        Map<String, OnnxTensor> inputs = new HashMap<>(state);
        OrtSession.Result result = null;
        try {
            inputs.put(TrainingGraph.PIXELS, temp(temporary, OnnxTensor.createTensor(env, FloatBuffer.wrap(pixels), pixelShape(n))));
            inputs.put(TrainingGraph.TARGETS, temp(temporary, OnnxTensor.createTensor(env, FloatBuffer.wrap(targets),
                    new long[] {n, classes})));
            scalar(inputs, temporary, TrainingGraph.LR_BACKBONE, h.lrBackbone());
            scalar(inputs, temporary, TrainingGraph.LR_HEAD, h.lrHead());
            scalar(inputs, temporary, TrainingGraph.WEIGHT_DECAY, h.weightDecay());
            scalar(inputs, temporary, TrainingGraph.BETA1, h.beta1());
            scalar(inputs, temporary, TrainingGraph.BETA2, h.beta2());
            scalar(inputs, temporary, TrainingGraph.EPSILON, h.epsilon());
            scalar(inputs, temporary, TrainingGraph.BIAS_CORRECTION1, (float) (1 - Math.pow(h.beta1(), t)));
            scalar(inputs, temporary, TrainingGraph.BIAS_CORRECTION2, (float) (1 - Math.pow(h.beta2(), t)));
            scalar(inputs, temporary, TrainingGraph.MAX_GRAD_NORM, h.maxGradNorm());
            result = session.run(inputs);
            float lossValue = scalarOutput(result, TrainingGraph.LOSS);
            float gradNorm = scalarOutput(result, TrainingGraph.GRAD_NORM);
            float[] logits = floats(result, TrainingGraph.LOGITS);
            if (!Float.isFinite(lossValue) || !Float.isFinite(gradNorm)) {
                throw new IllegalStateException("training diverged at step " + t + ": loss " + lossValue
                        + ", gradient norm " + gradNorm + "; lower the learning rates or enable clipping");
            }
            Map<String, OnnxTensor> next = new LinkedHashMap<>();
            for (TrainableParameters.Param p : params) {
                next.put(p.name(), tensor(result, TrainingGraph.updatedName(p.name())));
                next.put(TrainingGraph.firstMomentName(p.name()), tensor(result, TrainingGraph.updatedFirstMomentName(p.name())));
                next.put(TrainingGraph.secondMomentName(p.name()), tensor(result, TrainingGraph.updatedSecondMomentName(p.name())));
            }
            closeState();
            state.putAll(next);
            stateOwners.add(result);
            result = null;
            steps = t;
            return new StepResult(lossValue, gradNorm, logits);
        } finally {
            if (result != null) {
                result.close();
            }
            temporary.forEach(OnnxTensor::close);
        }
    }

    /** Logits [n, classes] of the current parameters. */
    public float[] logits(float[] pixels, int n) throws OrtException {
        OrtSession session = session(TrainingGraph.Mode.FORWARD).session();
        Map<String, OnnxTensor> inputs = parameterInputs();
        try (OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.wrap(pixels), pixelShape(n))) {
            inputs.put(TrainingGraph.PIXELS, x);
            try (OrtSession.Result r = session.run(inputs)) {
                return floats(r, TrainingGraph.LOGITS);
            }
        }
    }

    /** Loss, logits and all parameter gradients of the current parameters on one batch. */
    public Gradients gradients(float[] pixels, int n, float[] targets) throws OrtException {
        OrtSession session = session(TrainingGraph.Mode.GRADIENTS).session();
        Map<String, OnnxTensor> inputs = parameterInputs();
        try (OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.wrap(pixels), pixelShape(n));
             OnnxTensor y = OnnxTensor.createTensor(env, FloatBuffer.wrap(targets), new long[] {n, classes})) {
            inputs.put(TrainingGraph.PIXELS, x);
            inputs.put(TrainingGraph.TARGETS, y);
            try (OrtSession.Result r = session.run(inputs)) {
                Map<String, float[]> grads = new LinkedHashMap<>();
                for (TrainableParameters.Param p : params) {
                    grads.put(p.name(), floats(r, TrainingGraph.gradName(p.name())));
                }
                return new Gradients(scalarOutput(r, TrainingGraph.LOSS), floats(r, TrainingGraph.LOGITS), grads);
            }
        }
    }

    /** Copies of the current parameter values, by name. */
    public Map<String, float[]> parameterValues() {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (TrainableParameters.Param p : params) {
            out.put(p.name(), copy(state.get(p.name())));
        }
        return out;
    }

    /** Copies of the AdamW moments, keyed {@code m.NAME} and {@code v.NAME}. */
    public Map<String, float[]> momentValues() {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (TrainableParameters.Param p : params) {
            String m = TrainingGraph.firstMomentName(p.name());
            String v = TrainingGraph.secondMomentName(p.name());
            out.put(m, copy(state.get(m)));
            out.put(v, copy(state.get(v)));
        }
        return out;
    }

    private Map<String, OnnxTensor> parameterInputs() {
        Map<String, OnnxTensor> inputs = new HashMap<>();
        for (TrainableParameters.Param p : params) {
            inputs.put(p.name(), state.get(p.name()));
        }
        return inputs;
    }

    private long[] pixelShape(int n) {
        return new long[] {n, spec.channels(), spec.imageHeight(), spec.imageWidth()};
    }

    private OnnxSessions.Opened session(TrainingGraph.Mode mode) throws OrtException {
        OnnxSessions.Opened s = sessions.get(mode);
        if (s == null) {
            // In memory: a training graph is small (weights are inputs), and per-run graphs have no use for
            // the runtime's on-disk cache of optimised models.
            ModelProto model = TrainingGraph.build(spec, params, mode, loss, VitfitVersion.get());
            s = OnnxSessions.open(model.toByteArray(), wanted, threads);
            sessions.put(mode, s);
        }
        return s;
    }

    private void scalar(Map<String, OnnxTensor> inputs, List<OnnxTensor> temporary, String name, float value)
            throws OrtException {
        inputs.put(name, temp(temporary, OnnxTensor.createTensor(env, value)));
    }

    private static OnnxTensor temp(List<OnnxTensor> temporary, OnnxTensor t) {
        temporary.add(t);
        return t;
    }

    private static OnnxTensor tensor(OrtSession.Result r, String name) {
        OnnxValue v = r.get(name).orElseThrow(() -> new IllegalStateException("training graph has no output " + name));
        return (OnnxTensor) v;
    }

    private static float[] floats(OrtSession.Result r, String name) {
        return copy(tensor(r, name));
    }

    private static float scalarOutput(OrtSession.Result r, String name) {
        return tensor(r, name).getFloatBuffer().get(0);
    }

    private static float[] copy(OnnxTensor t) {
        FloatBuffer fb = t.getFloatBuffer();
        float[] out = new float[fb.remaining()];
        fb.get(out);
        return out;
    }

    private void closeState() {
        for (AutoCloseable c : stateOwners) {
            try {
                c.close();
            } catch (Exception e) {
                throw new IllegalStateException("closing ONNX Runtime tensors failed: " + e.getMessage(), e);
            }
        }
        stateOwners.clear();
        state.clear();
    }

    @Override
    public void close() throws OrtException {
        closeState();
        for (OnnxSessions.Opened s : sessions.values()) {
            s.close();
        }
        sessions.clear();
    }
}
