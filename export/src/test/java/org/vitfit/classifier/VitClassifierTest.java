package org.vitfit.classifier;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.classify.Classification;
import org.vitfit.classify.VitClassifier;
import org.vitfit.preprocess.ImageDecodeException;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.UnaryOperator;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The runtime library as another application uses it: every input form, top-k, concurrent callers, and the errors a
 * wrong or damaged file gets. Lives in the export module because it needs an exported file.
 */
class VitClassifierTest {

    @TempDir
    static Path tmp;
    static Backbone backbone;
    static Path classifierFile;

    @BeforeAll
    static void export() throws IOException {
        backbone = Backbone.convert(tmp.resolve("vit-tiny"));
        Path head = new HandHead(192, 6, false, 5).write(tmp.resolve("head"), backbone.sha256());
        classifierFile = tmp.resolve("six.vitfit");
        ClassifierExporter.export(backbone.dir(), head, classifierFile, false);
    }

    @Test
    void pathStreamAndDecodedImageGiveTheSameAnswer() throws IOException {
        try (VitClassifier c = VitClassifier.load(classifierFile)) {
            for (int i = 0; i < backbone.images().size(); i++) {
                Path image = backbone.images().get(i);
                float[] fromPath = c.classify(image).probabilities();
                float[] fromStream;
                try (InputStream in = Files.newInputStream(image)) {
                    fromStream = c.classify(in).probabilities();
                }
                assertArrayEquals(fromPath, fromStream);
                assertArrayEquals(fromPath, c.classify(backbone.decoded().get(i)).probabilities());
            }
            List<Classification> files = c.classifyFiles(backbone.images());
            assertEquals(backbone.images().size(), files.size());
        }
    }

    /** More images than one ONNX Runtime run takes: split into runs, answers still in input order. */
    @Test
    void largeBatchesAreSplitAndKeepTheirOrder() throws IOException {
        try (VitClassifier c = VitClassifier.load(classifierFile)) {
            List<float[]> single = new ArrayList<>();
            for (var image : backbone.decoded()) {
                single.add(c.classify(image).probabilities());
            }
            List<BufferedImage> many = new ArrayList<>();
            for (int i = 0; i < VitClassifier.MAX_RUN_BATCH + 3; i++) {
                many.add(backbone.decoded().get(i % single.size()));
            }
            List<Classification> answers = c.classifyBatch(many);
            assertEquals(many.size(), answers.size());
            for (int i = 0; i < answers.size(); i++) {
                float[] want = single.get(i % single.size());
                for (int j = 0; j < want.length; j++) {
                    assertEquals(want[j], answers.get(i).probabilities()[j], 1e-5, "image " + i);
                }
            }
        }
    }

    @Test
    void topKIsSortedAndBoundedByTheLabelCount() throws IOException {
        try (VitClassifier c = VitClassifier.load(classifierFile)) {
            Classification r = c.classify(backbone.images().get(0));
            List<Classification.ScoredLabel> top = r.top(3);
            assertEquals(3, top.size());
            assertTrue(top.get(0).score() >= top.get(1).score() && top.get(1).score() >= top.get(2).score(), top.toString());
            float max = 0;
            for (float p : r.probabilities()) {
                max = Math.max(max, p);
            }
            assertEquals(max, top.get(0).score());
            assertEquals(r.best(), top.get(0));
            assertEquals(List.of(r.best().label()), r.activeLabels());
            assertEquals(6, r.top(100).size());
            double sum = 0;
            for (float p : r.probabilities()) {
                sum += p;
            }
            assertEquals(1.0, sum, 1e-5);
            assertEquals(r.probabilities()[1], r.probability(c.labels().get(1)));
            assertThrows(IllegalArgumentException.class, () -> r.top(0));
            assertThrows(IllegalArgumentException.class, () -> r.probability("no such label"));
        }
    }

    /** Eight threads share one classifier; every answer must be the one its own image gets alone. */
    @Test
    void concurrentCallersGetTheirOwnAnswers() throws Exception {
        try (VitClassifier c = VitClassifier.load(classifierFile)) {
            List<float[]> expected = new ArrayList<>();
            for (Path p : backbone.images()) {
                expected.add(c.classify(p).probabilities());
            }
            ExecutorService pool = Executors.newFixedThreadPool(8);
            try {
                List<Future<float[]>> answers = new ArrayList<>();
                List<Integer> which = new ArrayList<>();
                for (int call = 0; call < 32; call++) {
                    int image = (call * 7) % expected.size();
                    which.add(image);
                    answers.add(pool.submit(() -> c.classify(backbone.images().get(image)).probabilities()));
                }
                for (int call = 0; call < answers.size(); call++) {
                    float[] got = answers.get(call).get();
                    float[] want = expected.get(which.get(call));
                    for (int j = 0; j < want.length; j++) {
                        assertEquals(want[j], got[j], 1e-6, "call " + call + " label " + j);
                    }
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void badImagesFailWithTheDecodersReason() throws IOException {
        try (VitClassifier c = VitClassifier.load(classifierFile)) {
            ImageDecodeException e = assertThrows(ImageDecodeException.class,
                    () -> c.classify(new ByteArrayInputStream("hello, not an image".getBytes(StandardCharsets.UTF_8))));
            assertEquals(ImageDecodeException.Reason.NOT_AN_IMAGE, e.reason());
            e = assertThrows(ImageDecodeException.class, () -> c.classify(tmp.resolve("missing.jpg")));
            assertEquals(ImageDecodeException.Reason.UNREADABLE, e.reason());
        }
    }

    @Test
    void loadsABareClassifierOnnxButNotAPlainModel() throws IOException {
        Path bare = tmp.resolve("classifier.onnx");
        Files.write(bare, entry(classifierFile, "classifier.onnx"));
        try (VitClassifier c = VitClassifier.load(bare)) {
            assertEquals(6, c.labels().size());
        }
        IOException e = assertThrows(IOException.class, () -> VitClassifier.load(backbone.dir().resolve("model.onnx")));
        assertTrue(e.getMessage().contains("without the 'vitfit.classifier' metadata property"), e.getMessage());
    }

    @Test
    void refusesFilesThatAreNotClassifiersSayingWhy() throws IOException {
        NoSuchFileException missing = assertThrows(NoSuchFileException.class,
                () -> VitClassifier.load(tmp.resolve("nope.vitfit")));
        assertTrue(missing.getMessage().contains("vitfit export"), missing.getMessage());

        Path text = Files.writeString(tmp.resolve("notes.vitfit"), "just some text");
        IOException e = assertThrows(IOException.class, () -> VitClassifier.load(text));
        assertTrue(e.getMessage().contains("neither a .vitfit file nor an ONNX model"), e.getMessage());

        Path noOnnx = rewrite("no-onnx.vitfit", "classifier.onnx", null);
        e = assertThrows(IOException.class, () -> VitClassifier.load(noOnnx));
        assertTrue(e.getMessage().contains("no classifier.onnx entry"), e.getMessage());

        Path future = rewriteJson("future.vitfit", o -> o.put("formatVersion", 99));
        e = assertThrows(IOException.class, () -> VitClassifier.load(future));
        assertTrue(e.getMessage().contains("format version 99"), e.getMessage());

        Path extraLabel = rewriteJson("extra-label.vitfit", o -> ((ArrayNode) o.get("labels")).add("seventh"));
        e = assertThrows(IOException.class, () -> VitClassifier.load(extraLabel));
        assertTrue(e.getMessage().contains("but there are 7 labels"), e.getMessage());

        Path wrongSize = rewriteJson("wrong-size.vitfit", o -> o.put("imageHeight", 256));
        e = assertThrows(IOException.class, () -> VitClassifier.load(wrongSize));
        assertTrue(e.getMessage().contains("does not match the described image size 256x224"), e.getMessage());

        byte[] whole = Files.readAllBytes(classifierFile);
        Path truncated = Files.write(tmp.resolve("truncated.vitfit"), Arrays.copyOf(whole, whole.length / 2));
        assertThrows(IOException.class, () -> VitClassifier.load(truncated));
    }

    private static byte[] entry(Path zipFile, String name) throws IOException {
        try (ZipFile zip = new ZipFile(zipFile.toFile()); InputStream in = zip.getInputStream(zip.getEntry(name))) {
            return in.readAllBytes();
        }
    }

    private static Path rewriteJson(String name, java.util.function.Consumer<ObjectNode> edit) throws IOException {
        ObjectNode o = (ObjectNode) HandHead.JSON.readTree(entry(classifierFile, "vitfit-classifier.json"));
        edit.accept(o);
        byte[] json = HandHead.JSON.writeValueAsBytes(o);
        return rewrite(name, "vitfit-classifier.json", b -> json);
    }

    /** A copy of the classifier with entry {@code name} replaced ({@code change} != null) or dropped. */
    private static Path rewrite(String file, String name, UnaryOperator<byte[]> change) throws IOException {
        Path out = tmp.resolve(file);
        try (ZipFile zip = new ZipFile(classifierFile.toFile());
             OutputStream os = Files.newOutputStream(out);
             ZipOutputStream zos = new ZipOutputStream(os)) {
            for (ZipEntry e : zip.stream().toList()) {
                byte[] data;
                try (InputStream in = zip.getInputStream(e)) {
                    data = in.readAllBytes();
                }
                if (e.getName().equals(name)) {
                    if (change == null) {
                        continue;
                    }
                    data = change.apply(data);
                }
                zos.putNextEntry(new ZipEntry(e.getName()));
                zos.write(data);
                zos.closeEntry();
            }
        }
        return out;
    }
}
