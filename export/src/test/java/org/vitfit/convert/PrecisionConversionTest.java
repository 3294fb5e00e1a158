package org.vitfit.convert;

import ai.onnx.proto.OnnxMl;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.convert.quant.CalibrationRequest;
import org.vitfit.convert.quant.Calibrator;
import org.vitfit.runtime.ModelDescriptor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The int8 (dynamic and calibrated) and fp16 conversions of the bundled ViT-Tiny against its fp32 conversion on real
 * images (timm's own pixel values for the 17 ImageNet samples and the 4 hf-golden fixture images, none of them among
 * the calibration images): the accuracy guard of the faster models, and proof that ONNX Runtime turns the int8
 * patterns into its quantised kernels.
 */
class PrecisionConversionTest {

    /** Calibration images for the static int8 model: 32 of the 370 pet photos, spread over the 37 breeds. */
    static final int CALIBRATION_IMAGES = 32;

    @TempDir
    static Path tmp;

    static float[] pixels;
    static int images;
    static CalibrationRequest calibration;

    @BeforeAll
    static void convert() throws Exception {
        Path checkpoint = Golden.root().resolve("models/vit-tiny-patch16-224-augreg");
        for (Precision p : Precision.values()) {
            Converter.convert(checkpoint, tmp.resolve(p.label()), new Converter.Options(null, false, null, p));
        }
        calibration = petPhotos(CALIBRATION_IMAGES);
        Converter.convert(checkpoint, tmp.resolve("int8-static"),
                new Converter.Options(null, false, null, Precision.INT8, calibration));
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

    /**
     * Static scales are measured on photos: on the 17 ImageNet photos the guard is 0.99; the 4 hf-golden images are
     * synthetic noisy checkerboards unlike any calibration photo, where clipped activations cost more (0.97 guard).
     */
    @Test
    void calibratedInt8KeepsCosineAbove099WithFp32() throws Exception {
        double[] worst = worstCosines(tmp.resolve("fp32/model.onnx"), tmp.resolve("int8-static/model.onnx"));
        System.out.printf("calibrated int8 (%d calibration images) vs fp32: worst embedding cosine %.5f on 17 photos,"
                + " %.5f on 4 synthetic images%n", CALIBRATION_IMAGES, worst[0], worst[1]);
        assertTrue(worst[0] >= 0.99, "calibrated int8 embedding cosine with fp32 fell to " + worst[0]);
        assertTrue(worst[1] >= 0.97, "calibrated int8 embedding cosine with fp32 fell to " + worst[1]);
    }

    /** hf_vit is enabled for int8 (both kinds) on the same evidence: the real ViT-Tiny weights in Hugging Face layout. */
    @Test
    void calibratedInt8OfTheHuggingFaceLayoutKeepsCosineAbove099() throws Exception {
        Path hf = HfLayout.fromTimm(Golden.root().resolve("models/vit-tiny-patch16-224-augreg"), tmp.resolve("hf-vit"));
        Converter.convert(hf, tmp.resolve("hf-int8-static"),
                new Converter.Options(null, false, null, Precision.INT8, calibration));
        assertEquals("hf_vit", ModelDescriptor.read(tmp.resolve("hf-int8-static")).family());
        double[] worst = worstCosines(tmp.resolve("fp32/model.onnx"), tmp.resolve("hf-int8-static/model.onnx"));
        System.out.printf("hf_vit calibrated int8 vs timm fp32: worst embedding cosine %.5f on 17 photos, %.5f on 4"
                + " synthetic images%n", worst[0], worst[1]);
        assertTrue(worst[0] >= 0.99, "hf_vit calibrated int8 embedding cosine with fp32 fell to " + worst[0]);
        assertTrue(worst[1] >= 0.97, "hf_vit calibrated int8 embedding cosine with fp32 fell to " + worst[1]);
        Converter.convert(hf, tmp.resolve("hf-int8"), new Converter.Options(null, false, null, Precision.INT8));
        double[] dynamic = worstCosines(tmp.resolve("fp32/model.onnx"), tmp.resolve("hf-int8/model.onnx"));
        System.out.printf("hf_vit dynamic int8 vs timm fp32: worst embedding cosine %.5f on 17 photos, %.5f on 4"
                + " synthetic images%n", dynamic[0], dynamic[1]);
        assertTrue(Math.min(dynamic[0], dynamic[1]) >= 0.99, "hf_vit dynamic int8 cosine fell to " + dynamic[0]);
    }

    @Test
    void int8IsRefusedForFamiliesNotChecked() {
        Path dinov2 = Golden.shared().resolve("fixtures/hf-golden/dinov2");
        Path preprocessor = dinov2.resolve("processor_slow/preprocessor_config.json");
        ConversionException e = assertThrows(ConversionException.class, () -> Converter.convert(dinov2,
                tmp.resolve("dinov2-int8"), new Converter.Options(null, false, preprocessor, Precision.INT8)));
        assertTrue(e.getMessage().contains("int8 is not available for dinov2"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("dinov2-int8")));
        // Swin's dynamic int8 is checked (SwinDeitReferenceTest); its calibrated int8 is not.
        ConversionException swin = assertThrows(ConversionException.class, () -> Converter.convert(
                ReferenceFixtures.model("timm_swin"), tmp.resolve("swin-int8"),
                new Converter.Options(null, false, null, Precision.INT8, calibration)));
        assertTrue(swin.getMessage().contains("calibrated int8 is not available for timm_swin")
                && swin.getMessage().endsWith("or int8 without --calibration."), swin.getMessage());
    }

    @Test
    void calibrationIsRefusedWithoutInt8AndWithTooFewImages() throws Exception {
        Path checkpoint = Golden.root().resolve("models/vit-tiny-patch16-224-augreg");
        ConversionException e = assertThrows(ConversionException.class, () -> Converter.convert(checkpoint,
                tmp.resolve("fp32-calibrated"), new Converter.Options(null, false, null, Precision.FP32, calibration)));
        assertTrue(e.getMessage().contains("has no use with --precision fp32"), e.getMessage());
        // 15 decodable photos and one file that is not an image: under the minimum of 16.
        Path bad = Files.writeString(tmp.resolve("not-an-image.jpg"), "not a jpeg");
        List<Path> few = new ArrayList<>(petPhotos(15).images());
        few.add(bad);
        e = assertThrows(ConversionException.class, () -> Converter.convert(checkpoint, tmp.resolve("too-few"),
                new Converter.Options(null, false, null, Precision.INT8,
                        new CalibrationRequest("few", few, 1, null))));
        assertTrue(e.getMessage().contains("at least 16 images that decode; got 15 (1 could not be decoded)"),
                e.getMessage());
        assertFalse(Files.exists(tmp.resolve("too-few")));
    }

    @Test
    void descriptorRecordsHowTheModelWasQuantised() throws Exception {
        ModelDescriptor.Quantization dynamic = ModelDescriptor.read(tmp.resolve("int8")).quantization();
        assertEquals("dynamic", dynamic.mode());
        assertNull(dynamic.calibration());
        ModelDescriptor.Quantization q = ModelDescriptor.read(tmp.resolve("int8-static")).quantization();
        assertEquals("static", q.mode());
        assertEquals(CALIBRATION_IMAGES, q.calibration().images());
        assertEquals(0, q.calibration().skipped());
        assertEquals(64, q.calibration().imagesSha256().length());
        assertEquals("last block", q.floatLayers().get("blocks.11.fc2"));
        // The bundled ViT-Tiny grows high-norm tokens in block 7 (largest token ~80x the median): its fc2 stays float.
        assertTrue(q.floatLayers().getOrDefault("blocks.7.fc2", "").startsWith("token outliers"), q.floatLayers().toString());
        assertNull(ModelDescriptor.read(tmp.resolve("fp32")).quantization());
    }

    /**
     * After ONNX Runtime's optimisation the calibrated graph runs every quantised linear but qkv as one QGemm (bias and
     * float output fused), qkv with the attention as the QAttention the converter wrote, the head as
     * DynamicQuantizeMatMul, and no DequantizeLinear is left over: nothing is computed as "dequantise, then float
     * MatMul". The source graph holds standard ops and QAttention only.
     */
    @Test
    void onnxRuntimeRunsTheCalibratedGraphOnIntegerKernels() throws Exception {
        Map<String, Integer> ops = opCounts(optimise(tmp.resolve("int8-static/model.onnx")));
        int floatFc2 = ModelDescriptor.read(tmp.resolve("int8-static")).quantization().floatLayers().size();
        assertEquals(12 * 3 - floatFc2, ops.getOrDefault("QGemm", 0), "optimised graph ops: " + ops);
        assertEquals(12, ops.getOrDefault("QAttention", 0), "self-attention: " + ops);
        assertEquals(1, ops.getOrDefault("DynamicQuantizeMatMul", 0), "classification head: " + ops);
        assertEquals(0, ops.getOrDefault("DequantizeLinear", 0), "unfused DequantizeLinear left: " + ops);
        // What stays float: the fc2 layers the plan keeps float, and nothing else.
        assertEquals(floatFc2, ops.getOrDefault("MatMul", 0), "float MatMuls: " + ops);
        Map<String, Integer> source = opCounts(tmp.resolve("int8-static/model.onnx"));
        assertEquals(12, source.get("QAttention"));
        for (String contrib : List.of("QGemm", "MatMulIntegerToFloat", "DynamicQuantizeMatMul")) {
            assertFalse(source.containsKey(contrib), "the converter writes standard ops and QAttention: " + source);
        }
    }

    @Test
    void onnxRuntimeFusesEveryQuantisedLinear() throws Exception {
        Map<String, Integer> ops = opCounts(optimise(tmp.resolve("int8/model.onnx")));
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

    private static Path optimise(Path model) throws Exception {
        Path optimised = model.resolveSibling("optimised.onnx");
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            o.setOptimizedModelFilePath(optimised.toString());
            OrtEnvironment.getEnvironment().createSession(model.toString(), o).close();
        }
        return optimised;
    }

    /** Worst embedding cosine of {@code model} with {@code reference}: {on the 17 photos, on the 4 synthetic images}. */
    private static double[] worstCosines(Path reference, Path model) throws Exception {
        float[] a = Golden.run(reference, pixels, images, 3, 224, 224).get("embedding");
        float[] b = Golden.run(model, pixels, images, 3, 224, 224).get("embedding");
        double[] worst = {1, 1};
        for (int i = 0; i < images; i++) {
            int group = i < 17 ? 0 : 1;
            worst[group] = Math.min(worst[group], Golden.cosine(Golden.row(b, i, 192), Golden.row(a, i, 192)));
        }
        return worst;
    }

    /** {@code n} pet photos spread evenly over the sorted listing (so over the breeds), as the CLI samples them. */
    static CalibrationRequest petPhotos(int n) throws Exception {
        Path pets = Golden.shared().resolve("datasets/oxford-pets-370");
        try (Stream<Path> s = Files.walk(pets)) {
            List<Path> all = s.filter(p -> p.toString().endsWith(".jpg")).sorted().toList();
            return new CalibrationRequest(pets.toString(), Calibrator.sample(all, n), 0, null);
        }
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
