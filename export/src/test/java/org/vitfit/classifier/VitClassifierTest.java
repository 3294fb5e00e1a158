package org.vitfit.classifier;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.classify.Classification;
import org.vitfit.classify.VitClassifier;
import org.vitfit.preprocess.ImageDecodeException;
import org.vitfit.runtime.Finite;
import org.vitfit.runtime.Hashing;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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

        Path noOnnx = rewrite("no-onnx.vitfit", "classifier.onnx", null, false);
        e = assertThrows(IOException.class, () -> VitClassifier.load(noOnnx));
        assertTrue(e.getMessage().contains("no classifier.onnx entry"), e.getMessage());

        // Edits that keep the file consistent (integrity record recomputed), so the description's own checks speak.
        Path future = rewriteJson("future.vitfit", o -> o.put("formatVersion", 99));
        e = assertThrows(IOException.class, () -> VitClassifier.load(future));
        assertTrue(e.getMessage().contains("format version 99"), e.getMessage());

        Path wrongSize = rewriteJson("wrong-size.vitfit", o -> o.put("imageHeight", 256));
        e = assertThrows(IOException.class, () -> VitClassifier.load(wrongSize));
        assertTrue(e.getMessage().contains(wrongSize + ": its description and its ONNX metadata disagree on the "
                + "classifier description (vitfit-classifier.json differs from the copy in classifier.onnx metadata "
                + "'vitfit.classifier')"), e.getMessage());

        // A bare classifier.onnx whose metadata claims a seventh label the graph does not compute.
        Path extraLabel = tmp.resolve("extra-label.onnx");
        Files.write(extraLabel, editMetadata(entry(classifierFile, "classifier.onnx"), meta -> {
            try {
                ObjectNode d = (ObjectNode) HandHead.JSON.readTree(meta.get("vitfit.classifier"));
                ((ArrayNode) d.get("labels")).add("seventh");
                meta.put("vitfit.classifier", HandHead.JSON.writeValueAsString(d));
                meta.put("vitfit.labels", HandHead.JSON.writeValueAsString(d.get("labels")));
            } catch (IOException io) {
                throw new AssertionError(io);
            }
        }));
        e = assertThrows(IOException.class, () -> VitClassifier.load(extraLabel));
        assertTrue(e.getMessage().contains("but there are 7 labels"), e.getMessage());
    }

    // ---------------------------------------------------------------------------------------- issue 11 items 4, 7

    /** 4,000 flipped bytes inside classifier.onnx loaded and predicted NaN; the zip's CRC said so all along. */
    @Test
    void flippedBytesInTheGraphFailTheCrc() throws IOException {
        byte[] zip = Files.readAllBytes(classifierFile);
        for (int i = zip.length / 2; i < zip.length / 2 + 4000; i++) {
            zip[i] ^= 0x5a;
        }
        Path damaged = Files.write(tmp.resolve("flipped.vitfit"), zip);
        IOException e = assertThrows(IOException.class, () -> VitClassifier.load(damaged));
        assertTrue(e.getMessage().startsWith(damaged + ": entry classifier.onnx fails its CRC-32 check"), e.getMessage());
        assertTrue(e.getMessage().contains("re-export it"), e.getMessage());
    }

    /** The same damage with the zip's CRCs recomputed (a tool that re-zipped it): the sha256 record catches it. */
    @Test
    void changedEntriesFailTheirRecordedSha256() throws IOException {
        Path resealedZip = rewrite("rezipped.vitfit", "classifier.onnx", b -> {
            byte[] c = b.clone();
            for (int i = c.length / 2; i < c.length / 2 + 4000; i++) {
                c[i] ^= 0x5a;
            }
            return c;
        }, false);
        IOException e = assertThrows(IOException.class, () -> VitClassifier.load(resealedZip));
        assertTrue(e.getMessage().startsWith(resealedZip + ": entry classifier.onnx has "), e.getMessage());
        assertTrue(e.getMessage().contains("but vitfit-integrity.json records"), e.getMessage());

        Path editedJson = rewrite("edited-json.vitfit", "vitfit-classifier.json",
                b -> new String(b, StandardCharsets.UTF_8).replace("label 0", "label 9").getBytes(StandardCharsets.UTF_8),
                false);
        e = assertThrows(IOException.class, () -> VitClassifier.load(editedJson));
        assertTrue(e.getMessage().startsWith(editedJson + ": entry vitfit-classifier.json has "), e.getMessage());
    }

    /** Labels reordered in the JSON while the ONNX metadata keeps the true order gave "81.91% Persian" for a Bengal. */
    @Test
    void labelsReorderedInTheDescriptionAreRefused() throws IOException {
        Path reordered = rewriteJson("reordered.vitfit", o -> {
            ArrayNode labels = (ArrayNode) o.get("labels");
            String first = labels.get(0).asText();
            labels.set(0, labels.get(2));
            labels.set(2, HandHead.JSON.getNodeFactory().textNode(first));
        });
        IOException e = assertThrows(IOException.class, () -> VitClassifier.load(reordered));
        assertEquals(reordered + ": its description and its ONNX metadata disagree on the labels (label 0 is "
                + "'label 2' in vitfit-classifier.json but 'label 0' in classifier.onnx metadata 'vitfit.labels'); the "
                + "file was edited after export and vitfit cannot tell which is right - re-export it with 'vitfit "
                + "export'", e.getMessage());
    }

    /** An edited preprocessing block changed scores silently. */
    @Test
    void anEditedPreprocessingIsRefused() throws IOException {
        Path edited = rewriteJson("preprocessing.vitfit", o -> ((ObjectNode) o.get("preprocessing")).put("cropHeight", 200));
        IOException e = assertThrows(IOException.class, () -> VitClassifier.load(edited));
        assertTrue(e.getMessage().contains("disagree on the preprocessing (vitfit-classifier.json says "), e.getMessage());
        assertTrue(e.getMessage().contains("classifier.onnx metadata 'vitfit.preprocessing' says"), e.getMessage());
    }

    /** A zip entry whose header lies about its size crashed with OutOfMemoryError and a stack trace. */
    @Test
    void aZipHeaderThatLiesAboutASizeIsAClearError() throws IOException {
        Path huge = Files.write(tmp.resolve("huge-header.vitfit"),
                withCentralSize(Files.readAllBytes(classifierFile), "vitfit-classifier.json", 0x7ffffff0L, false));
        IOException e = assertThrows(IOException.class, () -> VitClassifier.load(huge));
        assertTrue(e.getMessage().startsWith(huge + ": the zip header of vitfit-classifier.json says 2147483632 bytes, "
                + "more than the " + entry(classifierFile, "vitfit-classifier.json").length
                + " bytes vitfit-integrity.json records"), e.getMessage());

        Path small = Files.write(tmp.resolve("small-header.vitfit"),
                withCentralSize(Files.readAllBytes(classifierFile), "vitfit-classifier.json", 10, false));
        e = assertThrows(IOException.class, () -> VitClassifier.load(small));
        assertTrue(e.getMessage().startsWith(small + ": entry vitfit-classifier.json holds more bytes than its zip "
                + "header says (10)"), e.getMessage());

        byte[] whole = Files.readAllBytes(classifierFile);
        Path stored = Files.write(tmp.resolve("stored-header.vitfit"),
                withCentralSize(whole, "classifier.onnx", 0x7fff0000L, true));
        e = assertThrows(IOException.class, () -> VitClassifier.load(stored));
        assertTrue(e.getMessage().startsWith(stored + ": "), e.getMessage());
        assertTrue(e.getMessage().contains("re-export it"), e.getMessage());
    }

    /** A truncated .vitfit said "zip END header not found" without the file name. */
    @Test
    void aTruncatedFileIsNamed() throws IOException {
        byte[] whole = Files.readAllBytes(classifierFile);
        Path truncated = Files.write(tmp.resolve("truncated.vitfit"), Arrays.copyOf(whole, whole.length / 2));
        IOException e = assertThrows(IOException.class, () -> VitClassifier.load(truncated));
        assertEquals(truncated + ": not a complete vitfit classifier (zip end header missing; the file is truncated, "
                + "e.g. by an interrupted copy) - re-export it or copy it again", e.getMessage());
    }

    @Test
    void entriesMustBeExactlyThoseTheRecordLists() throws IOException {
        Path noRecord = rewrite("no-record.vitfit", "vitfit-integrity.json", null, false);
        IOException e = assertThrows(IOException.class, () -> VitClassifier.load(noRecord));
        assertTrue(e.getMessage().contains("lacks its vitfit-integrity.json entry, which classifier.onnx says it was "
                + "exported with"), e.getMessage());

        Path extra = tmp.resolve("extra-entry.vitfit");
        Files.copy(rewrite("extra-base.vitfit", "classifier.onnx", b -> b, false), extra);
        try (java.nio.file.FileSystem fs = java.nio.file.FileSystems.newFileSystem(extra)) {
            Files.writeString(fs.getPath("notes.txt"), "hello");
        }
        e = assertThrows(IOException.class, () -> VitClassifier.load(extra));
        assertTrue(e.getMessage().contains("holds an entry 'notes.txt' that its vitfit-integrity.json does not list"),
                e.getMessage());
    }

    /** A bare classifier.onnx carries the graph's sha256 in its metadata and is checked against it. */
    @Test
    void aBareOnnxWithChangedWeightsFailsItsGraphHash() throws IOException {
        byte[] onnx = entry(classifierFile, "classifier.onnx");
        for (int i = onnx.length / 2; i < onnx.length / 2 + 400; i++) {
            onnx[i] ^= 0x01;
        }
        Path bare = Files.write(tmp.resolve("changed.onnx"), onnx);
        IOException e = assertThrows(IOException.class, () -> VitClassifier.load(bare));
        assertTrue(e.getMessage().contains("the graph in " + bare + " has sha256"), e.getMessage());
        assertTrue(e.getMessage().contains("but its metadata 'vitfit.graph_sha256' records"), e.getMessage());
    }

    /** NaN flowed through to "score":"NaN" with an arbitrary label: a graph that overflows answers nothing. */
    @Test
    void aClassifierThatComputesNonFiniteScoresGivesNoAnswer() throws IOException {
        HandHead overflowing = new HandHead(192, 3, false, 9);
        Arrays.fill(overflowing.weights, 3e38f); // finite, but their sums overflow to infinity
        Path head = overflowing.write(tmp.resolve("overflowing-head"), backbone.sha256());
        Path file = tmp.resolve("overflowing.vitfit");
        ClassifierExporter.export(backbone.dir(), head, file, false);
        try (VitClassifier c = VitClassifier.load(file)) {
            Finite.NonFiniteException e = assertThrows(Finite.NonFiniteException.class,
                    () -> c.classify(backbone.images().get(0)));
            assertTrue(e.getMessage().startsWith(file + ": the classifier computed "), e.getMessage());
            assertTrue(e.getMessage().contains("(image 1 of 1), so it gives no answer for that image"), e.getMessage());
        }
    }

    private static byte[] entry(Path zipFile, String name) throws IOException {
        try (ZipFile zip = new ZipFile(zipFile.toFile()); InputStream in = zip.getInputStream(zip.getEntry(name))) {
            return in.readAllBytes();
        }
    }

    /** A copy with the description edited, and the integrity record recomputed so the edit is consistent. */
    private static Path rewriteJson(String name, java.util.function.Consumer<ObjectNode> edit) throws IOException {
        ObjectNode o = (ObjectNode) HandHead.JSON.readTree(entry(classifierFile, "vitfit-classifier.json"));
        edit.accept(o);
        byte[] json = HandHead.JSON.writeValueAsBytes(o);
        return rewrite(name, "vitfit-classifier.json", b -> json, true);
    }

    /**
     * A copy of the classifier with entry {@code name} replaced ({@code change} != null) or dropped; {@code reseal}
     * recomputes {@code vitfit-integrity.json} for the new content, as a careless tool or an attacker would.
     */
    private static Path rewrite(String file, String name, UnaryOperator<byte[]> change, boolean reseal)
            throws IOException {
        Path out = tmp.resolve(file);
        Map<String, byte[]> entries = new LinkedHashMap<>();
        try (ZipFile zip = new ZipFile(classifierFile.toFile())) {
            for (ZipEntry e : zip.stream().toList()) {
                try (InputStream in = zip.getInputStream(e)) {
                    entries.put(e.getName(), in.readAllBytes());
                }
            }
        }
        if (change == null) {
            entries.remove(name);
        } else {
            entries.put(name, change.apply(entries.get(name)));
        }
        if (reseal) {
            ObjectNode record = (ObjectNode) HandHead.JSON.readTree(entries.get("vitfit-integrity.json"));
            for (com.fasterxml.jackson.databind.JsonNode e : record.get("entries")) {
                byte[] content = entries.get(e.get("name").asText());
                ((ObjectNode) e).put("size", content.length).put("sha256", Hashing.sha256(content));
            }
            entries.put("vitfit-integrity.json", HandHead.JSON.writeValueAsBytes(record));
        }
        try (OutputStream os = Files.newOutputStream(out); ZipOutputStream zos = new ZipOutputStream(os)) {
            for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                // Stored, as the exporter writes the graph: deflating 22 MB per copy would make this test slow.
                ZipEntry z = new ZipEntry(e.getKey());
                z.setMethod(ZipEntry.STORED);
                z.setSize(e.getValue().length);
                java.util.zip.CRC32 crc = new java.util.zip.CRC32();
                crc.update(e.getValue());
                z.setCrc(crc.getValue());
                zos.putNextEntry(z);
                zos.write(e.getValue());
                zos.closeEntry();
            }
        }
        return out;
    }

    /** The ONNX model with its metadata_props edited (the graph, and so its sha256, unchanged). */
    private static byte[] editMetadata(byte[] onnx, java.util.function.Consumer<Map<String, String>> edit)
            throws IOException {
        ai.onnx.proto.OnnxMl.ModelProto m = ai.onnx.proto.OnnxMl.ModelProto.parseFrom(onnx);
        Map<String, String> meta = new LinkedHashMap<>();
        m.getMetadataPropsList().forEach(p -> meta.put(p.getKey(), p.getValue()));
        edit.accept(meta);
        ai.onnx.proto.OnnxMl.ModelProto.Builder b = m.toBuilder().clearMetadataProps();
        meta.forEach((k, v) -> b.addMetadataPropsBuilder().setKey(k).setValue(v));
        return b.build().toByteArray();
    }

    /**
     * The zip with the central directory's uncompressed size (and for a stored entry the compressed size too) of
     * {@code name} set to {@code size}: a header that lies.
     */
    private static byte[] withCentralSize(byte[] zip, String name, long size, boolean alsoCompressed) {
        ByteBuffer b = ByteBuffer.wrap(zip).order(ByteOrder.LITTLE_ENDIAN);
        byte[] wanted = name.getBytes(StandardCharsets.UTF_8);
        for (int p = 0; p + 46 < zip.length; p++) {
            if (b.getInt(p) != 0x02014b50) {
                continue;
            }
            int nameLength = b.getShort(p + 28) & 0xffff;
            if (Arrays.equals(Arrays.copyOfRange(zip, p + 46, p + 46 + nameLength), wanted)) {
                b.putInt(p + 24, (int) size);
                if (alsoCompressed) {
                    b.putInt(p + 20, (int) size);
                }
                return zip;
            }
        }
        throw new AssertionError("no central directory entry " + name);
    }
}
