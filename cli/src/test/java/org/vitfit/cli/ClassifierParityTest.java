package org.vitfit.cli;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vitfit.classifier.ClassifierExporter;
import org.vitfit.classify.ClassifierDescriptor;
import org.vitfit.classify.Classification;
import org.vitfit.classify.VitClassifier;
import org.vitfit.convert.Converter;
import org.vitfit.extract.ExtractListener;
import org.vitfit.extract.ExtractOptions;
import org.vitfit.extract.Extractor;
import org.vitfit.heads.EmbeddingSet;
import org.vitfit.heads.Head;
import org.vitfit.heads.HeadKind;
import org.vitfit.heads.HeadTrainer;
import org.vitfit.heads.Thresholds;
import org.vitfit.onnx.Device;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.runtime.VitModel;

import java.awt.image.BufferedImage;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import java.util.zip.ZipFile;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fused classifier computes exactly head(backbone(x)): for heads trained here on real pet embeddings (linear and
 * MLP, multi-class and multi-label), the probabilities of the exported file on the fixture images equal the head's
 * own scores of the backbone's embeddings of the same images within 1e-5.
 */
class ClassifierParityTest {

    private static final double TOLERANCE = 1e-5;

    @TempDir
    static Path tmp;
    static Path model;
    static EmbeddingSet breeds;
    static List<Path> images;
    static List<BufferedImage> decoded;
    static float[][] embeddings;

    @BeforeAll
    static void extractFourBreeds() throws Exception {
        Path root = Path.of(System.getProperty("vitfit.root", "..")).toAbsolutePath().normalize();
        Path shared = Path.of(System.getProperty("vitfit.shared", "../shared")).toAbsolutePath().normalize();
        model = tmp.resolve("vit-tiny");
        Converter.convert(root.resolve("models/vit-tiny-patch16-224-augreg"), model);
        Path cache = tmp.resolve("cache");
        Extractor.run(ExtractOptions.builder(model, shared.resolve("datasets/oxford-pets-370"), cache)
                .include(List.of("Abyssinian/*", "Bombay/*", "beagle/*", "pug/*")).build(), ExtractListener.NONE);
        breeds = EmbeddingSet.fromCache(cache);
        try (Stream<Path> s = Files.list(shared.resolve("fixtures/hf-golden/images"))) {
            images = s.sorted().toList();
        }
        // The reference: the backbone's embedding of each fixture image, decoded and preprocessed by the same code.
        try (VitModel vit = VitModel.open(model, Device.CPU, 0)) {
            ImageDecoder decoder = ImageDecoder.forRecipe(vit.descriptor().preprocessing());
            decoded = new ArrayList<>();
            for (Path p : images) {
                decoded.add(decoder.decode(p));
            }
            embeddings = vit.run(decoded, Set.of("embedding")).get("embedding");
        }
        assertEquals(4, images.size());
    }

    /** Species and breed as two labels per image, so the multi-label head has overlapping, unequal labels. */
    private static EmbeddingSet speciesAndBreed() {
        int d = breeds.dimension();
        float[] data = new float[breeds.size() * d];
        List<List<String>> labels = new ArrayList<>();
        for (int i = 0; i < breeds.size(); i++) {
            System.arraycopy(breeds.vector(i), 0, data, i * d, d);
            String breed = breeds.labels(i).get(0);
            // Oxford-IIIT Pet names cat breeds with a capital letter and dog breeds in lower case.
            labels.add(List.of(Character.isUpperCase(breed.charAt(0)) ? "cat" : "dog", breed));
        }
        return new EmbeddingSet(data, d, labels, null, null, breeds.modelSha256(), "species and breed");
    }

    @ParameterizedTest(name = "{0} multiLabel={1}")
    @CsvSource({"LINEAR, false", "MLP, false", "LINEAR, true", "MLP, true"})
    void fusedProbabilitiesEqualHeadOfBackbone(HeadKind kind, boolean multiLabel) throws Exception {
        HeadTrainer.Builder b = HeadTrainer.builder().head(kind).multiLabel(multiLabel)
                .thresholds(Thresholds.Mode.PER_LABEL).seed(3);
        if (kind == HeadKind.MLP) {
            b.epochs(30).hiddenSize(32);
        }
        HeadTrainer trainer = b.build();
        Path headDir = tmp.resolve("head-" + kind + "-" + multiLabel);
        trainer.train(multiLabel ? speciesAndBreed() : breeds).writeTo(headDir, false);
        Path file = tmp.resolve("pets-" + kind + "-" + multiLabel + ".vitfit");
        ClassifierExporter.Result result = ClassifierExporter.export(model, headDir, file, false);
        Head head = Head.load(headDir);

        float[][] headOnnx = runHeadOnnx(headDir.resolve(Head.ONNX_FILE), embeddings);
        try (VitClassifier classifier = VitClassifier.load(file)) {
            assertEquals(head.labels(), classifier.labels());
            assertEquals(multiLabel, classifier.multiLabel());
            List<Classification> batch = classifier.classifyBatch(decoded);
            double worst = 0;
            for (int i = 0; i < images.size(); i++) {
                Classification fromFile = classifier.classify(images.get(i));
                float[] expected = head.scores(embeddings[i]);
                worst = Math.max(worst, maxAbsDiff(expected, fromFile.probabilities()));
                assertClose(expected, fromFile.probabilities(), "Head.scores vs fused, " + images.get(i));
                assertClose(headOnnx[i], fromFile.probabilities(), "head.onnx vs fused, " + images.get(i));
                assertClose(fromFile.probabilities(), batch.get(i).probabilities(), "batch vs single, " + images.get(i));
                assertClose(activate(fromFile.logits(), multiLabel), fromFile.probabilities(), "activation(logits)");
                assertActiveLabels(head, fromFile, multiLabel);
            }
            System.out.printf("fused %s multiLabel=%s: max |p_fused - p_head| = %.2e over %d images%n", kind, multiLabel,
                    worst, images.size());
        }
        // classifier.onnx alone carries the description in its metadata and gives the same answers.
        Path bare = tmp.resolve("bare-" + kind + "-" + multiLabel + ".onnx");
        try (ZipFile zip = new ZipFile(file.toFile()); InputStream in = zip.getInputStream(zip.getEntry("classifier.onnx"))) {
            Files.write(bare, in.readAllBytes());
        }
        try (VitClassifier fromOnnx = VitClassifier.load(bare)) {
            ClassifierDescriptor d = fromOnnx.descriptor();
            assertEquals(result.descriptor().labels(), d.labels());
            assertArrayEquals(result.descriptor().thresholds(), d.thresholds());
            assertEquals(result.descriptor().preprocessing(), d.preprocessing());
            for (int i = 0; i < images.size(); i++) {
                assertClose(head.scores(embeddings[i]), fromOnnx.classify(decoded.get(i)).probabilities(), "bare onnx");
            }
        }
    }

    /** Multi-class: the arg-max; multi-label: exactly the labels whose probability exceeds the head's threshold. */
    private static void assertActiveLabels(Head head, Classification c, boolean multiLabel) {
        List<String> expected = new ArrayList<>();
        if (multiLabel) {
            float[] t = head.thresholds().values();
            for (int j = 0; j < t.length; j++) {
                if (c.probabilities()[j] > t[j]) {
                    expected.add(head.labels().get(j));
                }
            }
        } else {
            expected.add(c.best().label());
        }
        assertEquals(expected, c.activeLabels());
    }

    private static float[] activate(float[] logits, boolean multiLabel) {
        float[] p = new float[logits.length];
        if (multiLabel) {
            for (int j = 0; j < p.length; j++) {
                p[j] = (float) (1 / (1 + Math.exp(-logits[j])));
            }
            return p;
        }
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : logits) {
            sum += Math.exp(v - max);
        }
        for (int j = 0; j < p.length; j++) {
            p[j] = (float) (Math.exp(logits[j] - max) / sum);
        }
        return p;
    }

    private static float[][] runHeadOnnx(Path onnx, float[][] rows) throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession session = env.createSession(onnx.toString(), new OrtSession.SessionOptions());
             OnnxTensor input = OnnxTensor.createTensor(env, rows);
             OrtSession.Result result = session.run(Map.of(Head.ONNX_INPUT, input))) {
            return (float[][]) result.get(Head.ONNX_OUTPUT).orElseThrow().getValue();
        }
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        double worst = 0;
        for (int j = 0; j < a.length; j++) {
            worst = Math.max(worst, Math.abs(a[j] - b[j]));
        }
        return worst;
    }

    private static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        double diff = maxAbsDiff(expected, actual);
        assertTrue(diff <= TOLERANCE, what + ": max |diff| " + diff + " > " + TOLERANCE);
    }
}
