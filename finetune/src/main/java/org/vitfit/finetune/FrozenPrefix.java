package org.vitfit.finetune;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import org.vitfit.convert.VitGraphBuilder;
import org.vitfit.convert.VitParameters;
import org.vitfit.onnx.Device;
import org.vitfit.onnx.OnnxSessions;
import org.vitfit.runtime.Hashing;
import org.vitfit.runtime.VitfitVersion;

import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * The frozen first part of the model, run by the converter's own graph ({@code VitGraphBuilder}), so frozen layers
 * compute exactly what the converted model computes: {@code pixel_values} → the tokens entering the first trainable
 * block ({@link VitGraphBuilder#buildPrefix}), or → the model's {@code embedding} when only the classifier trains.
 * No gradient ever flows through it.
 */
final class FrozenPrefix implements AutoCloseable {

    private final OnnxSessions.Opened session;
    private final String output;
    private final int floatsPerRow;
    private final long[] rowShape;
    private final String identity;

    private FrozenPrefix(OnnxSessions.Opened session, String output, long[] rowShape, String identity) {
        this.session = session;
        this.output = output;
        this.rowShape = rowShape;
        long n = 1;
        for (long d : rowShape) {
            n *= d;
        }
        this.floatsPerRow = Math.toIntExact(n);
        this.identity = identity;
    }

    /**
     * The prefix {@code layout} leaves frozen in front of its training graph, or null when the graph reads pixels.
     *
     * @param weightsSha256 the checkpoint's weights, for the identity of cached prefix outputs
     */
    static FrozenPrefix open(VitParameters vit, TrainableParameters layout, String weightsSha256, Device device,
                             int threads) throws OrtException {
        if (layout.input() == TrainableParameters.Input.PIXELS) {
            return null;
        }
        // The model's own classifier and pooler are not part of what fine-tuning reads.
        VitParameters backbone = new VitParameters(vit.spec(), vit.patchWeight(), vit.patchBias(), vit.classToken(),
                vit.registerTokens(), vit.positions(), vit.preNorm(), vit.blocks(), vit.finalNorm(), null, null,
                vit.projection());
        ModelProto model;
        String output;
        long[] shape;
        Map<String, String> metadata = Map.of("vitfit.graph", "finetune-prefix");
        if (layout.input() == TrainableParameters.Input.EMBEDDING) {
            VitGraphBuilder.Built built = VitGraphBuilder.build(backbone, VitfitVersion.get(), metadata);
            model = built.model();
            output = VitGraphBuilder.EMBEDDING;
            shape = new long[] {built.embeddingDim()};
        } else {
            model = VitGraphBuilder.buildPrefix(backbone, layout.firstBlock(), VitfitVersion.get(), metadata);
            output = VitGraphBuilder.TOKENS;
            shape = new long[] {vit.spec().numTokens(), vit.spec().hiddenSize()};
        }
        String identity = Hashing.sha256(("vitfit-finetune-prefix|" + weightsSha256 + "|" + output + "|"
                + layout.firstBlock() + "|" + VitfitVersion.get()).getBytes(StandardCharsets.UTF_8));
        return new FrozenPrefix(OnnxSessions.open(model.toByteArray(), device, threads), output, shape, identity);
    }

    /** Floats one image becomes: T·D tokens or the embedding's width. */
    int floatsPerRow() {
        return floatsPerRow;
    }

    /** The shape of a batch of {@code n} outputs. */
    long[] shape(int n) {
        long[] s = new long[rowShape.length + 1];
        s[0] = n;
        System.arraycopy(rowShape, 0, s, 1, rowShape.length);
        return s;
    }

    /** Stands for the prefix's computation in cache identities: the weights, where it stops, the vitfit version. */
    String identity() {
        return identity;
    }

    /** Runs the prefix on preprocessed images [n, C, H, W]; the caller closes the result (its tensor feeds a step). */
    Output run(FloatBuffer pixels, long[] pixelShape) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OnnxTensor x = OnnxTensor.createTensor(env, pixels, pixelShape)) {
            OrtSession.Result r = session.session().run(Map.of(VitGraphBuilder.INPUT, x), java.util.Set.of(output));
            return new Output(r, (OnnxTensor) r.get(0));
        }
    }

    /** A prefix result: its tensor stays valid until closed. */
    record Output(OrtSession.Result result, OnnxTensor tensor) implements AutoCloseable {
        @Override
        public void close() {
            result.close();
        }
    }

    @Override
    public void close() throws OrtException {
        session.close();
    }
}
