package org.vitfit.convert;

import ai.onnx.proto.OnnxMl;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.runtime.ModelDescriptor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The int8 and fp16 conversions of the bundled ViT-Tiny against its fp32 conversion on real images (timm's own
 * pixel values for the 17 ImageNet samples and the 4 hf-golden fixture images): the accuracy guard of the faster
 * models, and proof that ONNX Runtime fuses the int8 pattern into its quantised kernels.
 */
class PrecisionConversionTest {

    @TempDir
    static Path tmp;

    static float[] pixels;
    static int images;

    @BeforeAll
    static void convert() throws Exception {
        Path checkpoint = Golden.root().resolve("models/vit-tiny-patch16-224-augreg");
        for (Precision p : Precision.values()) {
            Converter.convert(checkpoint, tmp.resolve(p.label()), new Converter.Options(null, false, null, p));
        }
        Path timm = Golden.shared().resolve("fixtures/timm-golden");
        float[] samples = Golden.f32(timm.resolve("imagenet_samples/pixel_values.f32"));
        float[] fixtures = Golden.f32(timm.resolve("fixture_images/pixel_values.f32"));
        pixels = new float[samples.length + fixtures.length];
        System.arraycopy(samples, 0, pixels, 0, samples.length);
        System.arraycopy(fixtures, 0, pixels, samples.length, fixtures.length);
        images = pixels.length / (3 * 224 * 224);
        assertEquals(21, images);
    }

    @Test
    void descriptorAndMetadataRecordThePrecision() throws Exception {
        for (Precision p : Precision.values()) {
            ModelDescriptor d = ModelDescriptor.read(tmp.resolve(p.label()));
            assertEquals(p.label(), d.precision());
        }
        long fp32 = Files.size(tmp.resolve("fp32/model.onnx"));
        long fp16 = Files.size(tmp.resolve("fp16/model.onnx"));
        long int8 = Files.size(tmp.resolve("int8/model.onnx"));
        // Weights dominate: half the bytes for fp16; int8 quarters qkv, proj, fc1 and head (fc2, conv, norms stay float).
        assertTrue(fp16 < 0.55 * fp32, "fp16 " + fp16 + " bytes vs fp32 " + fp32);
        assertTrue(int8 < 0.55 * fp32, "int8 " + int8 + " bytes vs fp32 " + fp32);
    }

    @Test
    void int8EmbeddingsKeepCosineAbove099WithFp32() throws Exception {
        Map<String, float[]> fp32 = Golden.run(tmp.resolve("fp32/model.onnx"), pixels, images, 3, 224, 224);
        Map<String, float[]> int8 = Golden.run(tmp.resolve("int8/model.onnx"), pixels, images, 3, 224, 224);
        double worst = 1;
        int sameTop1 = 0;
        for (int i = 0; i < images; i++) {
            double c = Golden.cosine(Golden.row(int8.get("embedding"), i, 192), Golden.row(fp32.get("embedding"), i, 192));
            worst = Math.min(worst, c);
            if (argmax(Golden.row(int8.get("logits"), i, 1000)) == argmax(Golden.row(fp32.get("logits"), i, 1000))) {
                sameTop1++;
            }
        }
        System.out.printf("int8 vs fp32 on %d images: worst embedding cosine %.5f, same top-1 class %d%n",
                images, worst, sameTop1);
        assertTrue(worst >= 0.99, "int8 embedding cosine with fp32 fell to " + worst);
    }

    @Test
    void onnxRuntimeFusesEveryQuantisedLinear() throws Exception {
        Path optimised = tmp.resolve("int8-optimised.onnx");
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            o.setOptimizedModelFilePath(optimised.toString());
            env.createSession(tmp.resolve("int8/model.onnx").toString(), o).close();
        }
        Map<String, Integer> ops = opCounts(optimised);
        // 12 blocks x (qkv, proj, fc1) + the classification head; fc2 stays float (LinearEmitter.forActivationInput).
        assertEquals(37, ops.getOrDefault("DynamicQuantizeMatMul", 0), "optimised graph ops: " + ops);
        assertEquals(0, ops.getOrDefault("MatMulInteger", 0), "unfused MatMulInteger left: " + ops);
        assertEquals(0, ops.getOrDefault("DynamicQuantizeLinear", 0), "unfused DynamicQuantizeLinear left: " + ops);
        Map<String, Integer> source = opCounts(tmp.resolve("int8/model.onnx"));
        assertEquals(37, source.get("MatMulInteger"));
        assertEquals(0, source.getOrDefault("DynamicQuantizeMatMul", 0), "the converter writes only standard ops");
    }

    @Test
    void fp16RunsOnCpuWithFloat32InputsAndOutputs() throws Exception {
        Map<String, float[]> fp32 = Golden.run(tmp.resolve("fp32/model.onnx"), pixels, images, 3, 224, 224);
        // Golden.run feeds a float32 tensor and reads float32 outputs: the Casts at the edges keep the contract.
        Map<String, float[]> fp16 = Golden.run(tmp.resolve("fp16/model.onnx"), pixels, images, 3, 224, 224);
        double worst = 1;
        for (int i = 0; i < images; i++) {
            worst = Math.min(worst, Golden.cosine(Golden.row(fp16.get("embedding"), i, 192),
                    Golden.row(fp32.get("embedding"), i, 192)));
        }
        System.out.printf("fp16 (CPU) vs fp32 on %d images: worst embedding cosine %.6f%n", images, worst);
        assertTrue(worst >= 0.999, "fp16 embedding cosine with fp32 fell to " + worst);
        assertEquals(fp32.get("last_hidden_state").length, fp16.get("last_hidden_state").length);
    }

    @Test
    void float16RoundsToNearestEven() {
        assertEquals((short) 0x3c00, org.vitfit.convert.graph.Float16Probe.bits(1f));
        assertEquals((short) 0xc000, org.vitfit.convert.graph.Float16Probe.bits(-2f));
        assertEquals((short) 0x7bff, org.vitfit.convert.graph.Float16Probe.bits(65504f));
        assertEquals((short) 0x7c00, org.vitfit.convert.graph.Float16Probe.bits(65520f));
        assertEquals((short) 0x0001, org.vitfit.convert.graph.Float16Probe.bits((float) Math.pow(2, -24)));
        assertEquals((short) 0x0000, org.vitfit.convert.graph.Float16Probe.bits((float) Math.pow(2, -25)));
        assertEquals((short) 0x0400, org.vitfit.convert.graph.Float16Probe.bits((float) Math.pow(2, -14)));
        // 1 + 2^-11 is halfway between 1 and the next half (1 + 2^-10): ties go to the even mantissa, 1.
        assertEquals((short) 0x3c00, org.vitfit.convert.graph.Float16Probe.bits(1f + (float) Math.pow(2, -11)));
        // 1 + 3 * 2^-11 is halfway between 1 + 2^-10 (odd) and 1 + 2^-9 (even): rounds up.
        assertEquals((short) 0x3c02, org.vitfit.convert.graph.Float16Probe.bits(1f + 3 * (float) Math.pow(2, -11)));
        assertEquals((short) 0x3555, org.vitfit.convert.graph.Float16Probe.bits(1f / 3f));
    }

    private static Map<String, Integer> opCounts(Path model) throws Exception {
        OnnxMl.ModelProto m = OnnxMl.ModelProto.parseFrom(Files.readAllBytes(model));
        Map<String, Integer> counts = new TreeMap<>();
        for (OnnxMl.NodeProto n : m.getGraph().getNodeList()) {
            counts.merge(n.getOpType(), 1, Integer::sum);
        }
        return counts;
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }
}
