package org.vitfit.classifier;

import ai.onnx.proto.OnnxMl;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vitfit.classify.ClassifierDescriptor;
import org.vitfit.classify.Classification;
import org.vitfit.classify.VitClassifier;
import org.vitfit.io.OutputRefusedException;
import org.vitfit.preprocess.PreprocessRecipe;
import org.vitfit.runtime.Hashing;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The {@code .vitfit} file: its layout, the fused graph, its metadata, its numbers, and the heads it refuses. */
class ClassifierExporterTest {

    @TempDir
    static Path shared;
    static Backbone backbone;

    @TempDir
    Path tmp;

    @BeforeAll
    static void convert() throws IOException {
        backbone = Backbone.convert(shared.resolve("vit-tiny"));
    }

    private Path export(HandHead head, String name) throws IOException {
        Path headDir = head.write(tmp.resolve("head-" + name), backbone.sha256());
        Path out = tmp.resolve(name + ".vitfit");
        ClassifierExporter.export(backbone.dir(), headDir, out, false);
        return out;
    }

    private static byte[] entry(Path zipFile, String name) throws IOException {
        try (ZipFile zip = new ZipFile(zipFile.toFile()); InputStream in = zip.getInputStream(zip.getEntry(name))) {
            return in.readAllBytes();
        }
    }

    @ParameterizedTest(name = "multiLabel={0}")
    @ValueSource(booleans = {false, true})
    void writesOneZipWithTheFusedGraphAndItsDescription(boolean multiLabel) throws IOException {
        HandHead head = new HandHead(192, 4, multiLabel, 11);
        Path file = export(head, "layout");

        try (ZipFile zip = new ZipFile(file.toFile())) {
            List<String> names = zip.stream().map(ZipEntry::getName).toList();
            assertEquals(List.of("classifier.onnx", "vitfit-classifier.json", "vitfit-integrity.json"), names);
            assertEquals(ZipEntry.STORED, zip.getEntry("classifier.onnx").getMethod());
        }
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of(), s.filter(p -> p.getFileName().toString().contains(".vitfit-")).toList(),
                    "no temporary file is left beside the output");
        }
        // The integrity record: size and sha256 of both other entries, and the graph's sha256 (also in the metadata).
        var record = HandHead.JSON.readTree(entry(file, "vitfit-integrity.json"));
        assertEquals("vitfit-integrity", record.path("format").asText());
        assertEquals(2, record.path("entries").size());
        for (var e : record.path("entries")) {
            byte[] content = entry(file, e.path("name").asText());
            assertEquals(content.length, e.path("size").asLong(), e.toString());
            assertEquals(Hashing.sha256(content), e.path("sha256").asText(), e.toString());
        }
        Path plain = Files.writeString(tmp.resolve("plain-file"), "x");
        assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(file),
                "the classifier gets the permissions of any new file, not a temp file's owner-only ones");

        OnnxMl.ModelProto m = OnnxMl.ModelProto.parseFrom(entry(file, "classifier.onnx"));
        assertEquals(8, m.getIrVersion(), "the higher IR version of backbone (8) and head (6)");
        assertEquals(1, m.getOpsetImportCount());
        assertEquals("", m.getOpsetImport(0).getDomain());
        assertEquals(17, m.getOpsetImport(0).getVersion(), "the head's opset 13 is raised to the backbone's 17");
        OnnxMl.GraphProto g = m.getGraph();
        assertEquals(List.of("pixel_values"), g.getInputList().stream().map(OnnxMl.ValueInfoProto::getName).toList());
        List<String> outputs = g.getOutputList().stream().map(OnnxMl.ValueInfoProto::getName).toList();
        assertEquals(multiLabel ? List.of("logits", "probabilities", "labels_mask", "embedding")
                : List.of("logits", "probabilities", "embedding"), outputs);
        if (multiLabel) {
            assertEquals(OnnxMl.TensorProto.DataType.BOOL_VALUE,
                    g.getOutput(2).getType().getTensorType().getElemType());
        }
        List<String> initializers = g.getInitializerList().stream().map(OnnxMl.TensorProto::getName).toList();
        assertFalse(initializers.contains("head.weight"), "the backbone's ImageNet classifier is pruned");
        assertTrue(initializers.containsAll(List.of("head/mean", "head/weights", "head/bias")), initializers.toString());
        assertTrue(g.getNodeList().stream().noneMatch(n -> n.getOutputList().contains("last_hidden_state")));

        Map<String, String> meta = m.getMetadataPropsList().stream()
                .collect(Collectors.toMap(OnnxMl.StringStringEntryProto::getKey, OnnxMl.StringStringEntryProto::getValue));
        assertEquals(head.labels, HandHead.JSON.readValue(meta.get("vitfit.labels"), new TypeReference<List<String>>() { }));
        assertEquals(multiLabel ? "multilabel" : "multiclass", meta.get("vitfit.task"));
        assertEquals("vitfit-classifier/1", meta.get("vitfit.format"));
        assertEquals(backbone.descriptor().preprocessing(),
                HandHead.JSON.readValue(meta.get("vitfit.preprocessing"), PreprocessRecipe.class));
        assertEquals(backbone.sha256(), meta.get("vitfit.backbone_onnx_sha256"));
        assertEquals("timm_vit", meta.get("vitfit.family"), "the backbone's own properties are kept");
        assertEquals("hand", meta.get("vitfit.head.tribuo_provenance"));
        assertEquals(Hashing.sha256(m.getGraph().toByteArray()), meta.get("vitfit.graph_sha256"));
        assertEquals(meta.get("vitfit.graph_sha256"), record.path("onnxGraphSha256").asText());
        if (multiLabel) {
            assertArrayEquals(head.thresholds, HandHead.JSON.readValue(meta.get("vitfit.thresholds"), float[].class));
        } else {
            assertFalse(meta.containsKey("vitfit.thresholds"));
        }

        ClassifierDescriptor inJson = ClassifierDescriptor.parse(entry(file, "vitfit-classifier.json"), "json");
        ClassifierDescriptor inMeta = ClassifierDescriptor.parse(meta.get("vitfit.classifier").getBytes(), "meta");
        for (ClassifierDescriptor d : List.of(inJson, inMeta)) {
            assertEquals(head.labels, d.labels());
            assertEquals(outputs, d.outputs());
            assertEquals(224, d.imageHeight());
            assertEquals(backbone.descriptor().preprocessing(), d.preprocessing());
            assertEquals(backbone.sha256(), d.provenance().backbone().onnxSha256());
            assertEquals(backbone.descriptor().weightsSha256(), d.provenance().backbone().weightsSha256());
            assertEquals(Hashing.sha256(tmp.resolve("head-layout/head.onnx")), d.provenance().head().onnxSha256());
            assertEquals(3, d.provenance().head().training().path("epochs").asInt());
            if (multiLabel) {
                assertArrayEquals(head.thresholds, d.thresholds());
                assertEquals("per-label", d.thresholdMode());
            }
        }
    }

    @ParameterizedTest(name = "multiLabel={0}")
    @ValueSource(booleans = {false, true})
    void fusedOutputsAreTheHeadAppliedToTheBackboneEmbedding(boolean multiLabel) throws IOException {
        HandHead head = new HandHead(192, 5, multiLabel, 12);
        if (multiLabel) {
            placeThresholdsBetweenTheImages(head);
        }
        Path file = export(head, "numbers");
        try (VitClassifier classifier = VitClassifier.load(file)) {
            List<Classification> answers = classifier.classifyBatch(backbone.decoded());
            for (int i = 0; i < answers.size(); i++) {
                Classification c = answers.get(i);
                float[] expected = head.probabilities(backbone.embeddings()[i]);
                double[] logits = head.logits(backbone.embeddings()[i]);
                for (int j = 0; j < expected.length; j++) {
                    assertEquals(expected[j], c.probabilities()[j], 1e-5, "probability " + j + " of image " + i);
                    assertEquals(logits[j], c.logits()[j], 1e-4, "logit " + j + " of image " + i);
                }
                List<String> active = new ArrayList<>();
                for (int j = 0; j < expected.length; j++) {
                    if (multiLabel ? c.probabilities()[j] > head.thresholds[j] : j == c.best().index()) {
                        active.add(head.labels.get(j));
                    }
                }
                assertEquals(active, c.activeLabels(), "image " + i);
            }
        }
    }

    /**
     * Each label's threshold halfway between its 2nd and 3rd highest probability over the four images, so every label
     * is active for exactly two images and a mask that ignored the thresholds (e.g. p > 0.5) would be caught.
     */
    private static void placeThresholdsBetweenTheImages(HandHead head) {
        float[][] p = new float[backbone.embeddings().length][];
        for (int i = 0; i < p.length; i++) {
            p[i] = head.probabilities(backbone.embeddings()[i]);
        }
        boolean differsFromHalf = false;
        for (int j = 0; j < head.thresholds.length; j++) {
            float[] column = new float[p.length];
            for (int i = 0; i < p.length; i++) {
                column[i] = p[i][j];
            }
            java.util.Arrays.sort(column);
            head.thresholds[j] = (column[1] + column[2]) / 2;
            for (float v : column) {
                differsFromHalf |= (v > 0.5f) != (v > head.thresholds[j]);
            }
        }
        assertTrue(differsFromHalf, "the thresholds must change at least one decision against p > 0.5");
    }

    private void assertRefused(String expectedMessagePart, Consumer<ObjectNode> json,
                               UnaryOperator<OnnxMl.ModelProto> graph, HandHead head) throws IOException {
        Path work = Files.createTempDirectory(tmp, "refusal");
        Path headDir = head.write(work.resolve("bad-head"), backbone.sha256(), json, graph);
        Path out = work.resolve("refused.vitfit");
        IOException e = assertThrows(IOException.class, () -> ClassifierExporter.export(backbone.dir(), headDir, out, false));
        assertTrue(e.getMessage().contains(expectedMessagePart), e.getMessage());
        try (Stream<Path> s = Files.list(work)) {
            assertEquals(List.of("bad-head"), s.map(p -> p.getFileName().toString()).toList(),
                    "a refused export writes nothing");
        }
    }

    private static OnnxMl.ModelProto replaceOp(OnnxMl.ModelProto m, String from, String to) {
        OnnxMl.GraphProto.Builder g = m.getGraph().toBuilder();
        for (OnnxMl.NodeProto.Builder n : g.getNodeBuilderList()) {
            if (n.getOpType().equals(from)) {
                n.setOpType(to).clearAttribute();
            }
        }
        return m.toBuilder().setGraph(g).build();
    }

    @Test
    void refusesAHeadForAnotherEmbeddingWidth() throws IOException {
        assertRefused("takes 100-dimensional embeddings but model", o -> { }, g -> g, new HandHead(100, 3, false, 1));
    }

    @Test
    void refusesAHeadTrainedOnAnotherBackbone() throws IOException {
        assertRefused("was trained on embeddings of the model with sha256 " + "ab".repeat(32),
                o -> o.put("backboneModelSha256", "ab".repeat(32)), g -> g, new HandHead(192, 3, false, 1));
    }

    @Test
    void refusesAHeadThatDoesNotSayWhichBackboneTrainedIt() throws IOException {
        assertRefused("does not record which backbone", o -> o.remove("backboneModelSha256"), g -> g,
                new HandHead(192, 3, false, 1));
    }

    @Test
    void refusesAMultiLabelHeadWithoutOneThresholdPerLabel() throws IOException {
        assertRefused("one value per label (3)", o -> ((ArrayNode) o.path("thresholds").path("values")).remove(0), g -> g, new HandHead(192, 3, true, 1));
    }

    @Test
    void refusesAHeadWhoseGraphDoesNotEndInItsTasksActivation() throws IOException {
        assertRefused("must end in Softmax but this one ends in Relu", o -> { }, g -> replaceOp(g, "Softmax", "Relu"),
                new HandHead(192, 3, false, 1));
        assertRefused("must end in Sigmoid but this one ends in Softmax", o -> { }, g -> replaceOp(g, "Sigmoid", "Softmax"),
                new HandHead(192, 3, true, 1));
    }

    @Test
    void refusesAnOperatorWhoseMeaningMayChangeWithTheOpset() throws IOException {
        assertRefused("the head uses Shrink, whose meaning may differ between the head's opset 13 and the backbone's 17",
                o -> { }, g -> replaceOp(g, "Sub", "Shrink"), new HandHead(192, 3, false, 1));
    }

    @Test
    void refusesMissingHeadFilesWithWhatToDo() throws IOException {
        Path headDir = new HandHead(192, 3, false, 1).write(tmp.resolve("head"), backbone.sha256());
        Files.delete(headDir.resolve("head.onnx"));
        NoSuchFileException e = assertThrows(NoSuchFileException.class,
                () -> ClassifierExporter.export(backbone.dir(), headDir, tmp.resolve("x.vitfit"), false));
        assertTrue(e.getMessage().contains("the head's ONNX graph is missing"), e.getMessage());
        Path notAHead = Files.createDirectories(tmp.resolve("not-a-head"));
        e = assertThrows(NoSuchFileException.class,
                () -> ClassifierExporter.export(backbone.dir(), notAHead, tmp.resolve("x.vitfit"), false));
        assertTrue(e.getMessage().contains("not a vitfit head directory"), e.getMessage());
        e = assertThrows(NoSuchFileException.class,
                () -> ClassifierExporter.export(headDir, headDir, tmp.resolve("x.vitfit"), false));
        assertTrue(e.getMessage().contains("run 'vitfit convert' first"), e.getMessage());
    }

    @Test
    void refusesABackboneChangedAfterConversion() throws IOException {
        Path copy = Files.createDirectories(tmp.resolve("changed-model"));
        for (String f : List.of("model.onnx", "vitfit-model.json")) {
            Files.copy(backbone.dir().resolve(f), copy.resolve(f));
        }
        Files.write(copy.resolve("model.onnx"), new byte[] {0}, StandardOpenOption.APPEND);
        Path headDir = new HandHead(192, 3, false, 1).write(tmp.resolve("head"), backbone.sha256());
        IOException e = assertThrows(ClassifierExportException.class,
                () -> ClassifierExporter.export(copy, headDir, tmp.resolve("x.vitfit"), false));
        assertTrue(e.getMessage().contains("changed after conversion"), e.getMessage());
    }

    /** Issue 11 item 3: a head trained with --lr 1e30 was packed and answered NaN. */
    @Test
    void refusesAHeadWithNonFiniteWeights() throws IOException {
        HandHead diverged = new HandHead(192, 3, false, 1);
        diverged.weights[5] = Float.NaN;
        Path work = Files.createTempDirectory(tmp, "nan");
        Path headDir = diverged.write(work.resolve("head"), backbone.sha256());
        ClassifierExportException e = assertThrows(ClassifierExportException.class,
                () -> ClassifierExporter.export(backbone.dir(), headDir, work.resolve("nan.vitfit"), false));
        assertEquals("head " + headDir + ": head.onnx initializer 'weights' holds NaN at index 5; the head's training "
                + "diverged; train it again (e.g. with a lower --lr) - vitfit does not export non-finite weights",
                e.getMessage());
        HandHead badThresholds = new HandHead(192, 3, true, 1);
        badThresholds.thresholds[1] = Float.POSITIVE_INFINITY;
        Path multi = badThresholds.write(work.resolve("multi"), backbone.sha256());
        e = assertThrows(ClassifierExportException.class,
                () -> ClassifierExporter.export(backbone.dir(), multi, work.resolve("inf.vitfit"), false));
        assertTrue(e.getMessage().contains("the thresholds in head.json holds Infinity at index 1"), e.getMessage());
        try (Stream<Path> s = Files.list(work)) {
            assertEquals(List.of("head", "multi"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
    }

    /** Issue 11 item 1: --overwrite replaces only a classifier vitfit exported, never another file. */
    @Test
    void replacesAnExistingFileOnlyWhenItIsAClassifierAndAskedTo() throws IOException {
        Path headDir = new HandHead(192, 3, false, 1).write(tmp.resolve("head"), backbone.sha256());
        Path out = tmp.resolve("pets.vitfit");
        Files.writeString(out, "keep me");
        for (boolean overwrite : new boolean[] {false, true}) {
            OutputRefusedException e = assertThrows(OutputRefusedException.class,
                    () -> ClassifierExporter.export(backbone.dir(), headDir, out, overwrite));
            assertTrue(e.getMessage().contains(out + " already exists and is not a classifier file written by vitfit; "
                    + "refusing to replace it."), e.getMessage());
        }
        assertEquals("keep me", Files.readString(out));

        // Another zip (a user's archive) is not ours either.
        Path archive = tmp.resolve("photos.zip");
        try (java.nio.file.FileSystem fs = java.nio.file.FileSystems.newFileSystem(archive,
                Map.of("create", "true"))) {
            Files.writeString(fs.getPath("a.txt"), "mine");
        }
        assertThrows(OutputRefusedException.class, () -> ClassifierExporter.export(backbone.dir(), headDir, archive, true));

        // An earlier export is replaced with --overwrite, and only with it.
        Path ours = tmp.resolve("ours.vitfit");
        ClassifierExporter.export(backbone.dir(), headDir, ours, false);
        OutputRefusedException e = assertThrows(OutputRefusedException.class,
                () -> ClassifierExporter.export(backbone.dir(), headDir, ours, false));
        assertTrue(e.getMessage().contains("already exists; pass --overwrite"), e.getMessage());
        Path head4 = new HandHead(192, 4, false, 2).write(tmp.resolve("head4"), backbone.sha256());
        ClassifierExporter.Result r = ClassifierExporter.export(backbone.dir(), head4, ours, true);
        assertEquals(Files.size(ours), r.bytes());
        try (VitClassifier c = VitClassifier.load(ours)) {
            assertEquals(4, c.labels().size());
        }

        Path dir = Files.createDirectories(tmp.resolve("a-directory"));
        e = assertThrows(OutputRefusedException.class, () -> ClassifierExporter.export(backbone.dir(), headDir, dir, true));
        assertTrue(e.getMessage().contains("is a directory"), e.getMessage());
        e = assertThrows(OutputRefusedException.class,
                () -> ClassifierExporter.export(backbone.dir(), headDir, headDir.resolve("x.vitfit"), true));
        assertTrue(e.getMessage().contains("lies inside the --head " + headDir), e.getMessage());
        e = assertThrows(OutputRefusedException.class,
                () -> ClassifierExporter.export(backbone.dir(), headDir, backbone.dir(), true));
        assertTrue(e.getMessage().contains("is also the --model"), e.getMessage());
    }
}
