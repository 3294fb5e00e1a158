package org.vitfit.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.classify.Classification;
import org.vitfit.classify.VitClassifier;
import org.vitfit.convert.Converter;
import org.vitfit.extract.ExtractListener;
import org.vitfit.extract.ExtractOptions;
import org.vitfit.extract.Extractor;
import org.vitfit.runtime.VitfitVersion;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The classifier through the command line, as the README's main job ends: train a head on four pet breeds, {@code
 * vitfit export} it, {@code vitfit predict --classifier} photos, {@code vitfit serve} it, and build and run the
 * standalone example in {@code examples/classify-image} against the exported file.
 */
class ClassifierCliTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path tmp;
    static Path model;
    static Path cache;
    static Path classifier;
    static Path multiLabelClassifier;
    static String exportOutput;

    private static Path photo(String breed) throws IOException {
        try (Stream<Path> s = Files.list(CliRun.shared().resolve("datasets/oxford-pets-370").resolve(breed))) {
            return s.sorted().findFirst().orElseThrow();
        }
    }

    @BeforeAll
    static void trainAndExport() throws Exception {
        model = tmp.resolve("vit-tiny");
        Converter.convert(CliRun.root().resolve("models/vit-tiny-patch16-224-augreg"), model);
        cache = tmp.resolve("cache");
        Extractor.run(ExtractOptions.builder(model, CliRun.shared().resolve("datasets/oxford-pets-370"), cache)
                .include(List.of("Abyssinian/*", "Bombay/*", "beagle/*", "pug/*")).build(), ExtractListener.NONE);

        Path head = tmp.resolve("head");
        CliRun train = CliRun.vitfit("train", "--cache", cache.toString(), "--seed", "3", "--output", head.toString());
        assertEquals(0, train.exit(), train.err());
        classifier = tmp.resolve("pets.vitfit");
        CliRun export = CliRun.vitfit("export", "--model", model.toString(), "--head", head.toString(), "--output",
                classifier.toString());
        assertEquals(0, export.exit(), export.err());
        exportOutput = export.out();

        Path multiHead = tmp.resolve("multi-head");
        CliRun trainMulti = CliRun.vitfit("train", "--cache", cache.toString(), "--multilabel", "--thresholds", "per-label",
                "--output", multiHead.toString());
        assertEquals(0, trainMulti.exit(), trainMulti.err());
        multiLabelClassifier = tmp.resolve("pets-multilabel.vitfit");
        CliRun exportMulti = CliRun.vitfit("export", "--model", model.toString(), "--head", multiHead.toString(), "--output",
                multiLabelClassifier.toString());
        assertEquals(0, exportMulti.exit(), exportMulti.err());
    }

    @Test
    void exportSaysWhatItWroteAndRefusesToOverwrite() {
        assertTrue(exportOutput.startsWith("exported multiclass classifier with 4 labels (linear head on "
                + "vit_tiny_patch16_224, 224x224 input) -> " + classifier), exportOutput);
        assertTrue(exportOutput.contains("test accuracy"), exportOutput);
        CliRun again = CliRun.vitfit("export", "--model", model.toString(), "--head", tmp.resolve("head").toString(), "--output",
                classifier.toString());
        assertEquals(1, again.exit());
        assertTrue(again.err().contains("already exists; pass --overwrite"), again.err());
        CliRun noHead = CliRun.vitfit("export", "--model", model.toString(), "--head", cache.toString(), "--output",
                tmp.resolve("x.vitfit").toString());
        assertEquals(1, noHead.exit());
        assertTrue(noHead.err().contains("not a vitfit head directory"), noHead.err());
        assertFalse(Files.exists(tmp.resolve("x.vitfit")));
        CliRun intoModel = CliRun.vitfit("export", "--model", model.toString(), "--head", tmp.resolve("head").toString(),
                "--output", model.resolve("pets.vitfit").toString(), "--overwrite");
        assertEquals(1, intoModel.exit());
        assertTrue(intoModel.err().contains("lies inside the --model " + model), intoModel.err());
    }

    /** Issue 11 item 1, positive path: --overwrite over an earlier export replaces it, and it still loads. */
    @Test
    void overwriteReplacesAnEarlierExport() throws Exception {
        Path copy = tmp.resolve("pets-copy.vitfit");
        CliRun first = CliRun.vitfit("export", "--model", model.toString(), "--head", tmp.resolve("head").toString(),
                "--output", copy.toString());
        assertEquals(0, first.exit(), first.err());
        CliRun again = CliRun.vitfit("export", "--model", model.toString(), "--head", tmp.resolve("multi-head").toString(),
                "--output", copy.toString(), "--overwrite");
        assertEquals(0, again.exit(), again.err());
        try (VitClassifier c = VitClassifier.load(copy)) {
            assertTrue(c.multiLabel(), "the multi-label export replaced the multi-class one");
        }
    }

    @Test
    void predictWithTheClassifierPrintsTheLibrarysAnswer() throws Exception {
        List<Path> photos = List.of(photo("beagle"), photo("Bombay"));
        CliRun json = CliRun.vitfit("predict", "--classifier", classifier.toString(), "--top-k", "3", "--json",
                photos.get(0).toString(), photos.get(1).toString());
        assertEquals(0, json.exit(), json.err());
        String[] lines = json.out().strip().split("\n");
        assertEquals(2, lines.length, json.out());
        try (VitClassifier c = VitClassifier.load(classifier)) {
            for (int i = 0; i < photos.size(); i++) {
                JsonNode o = JSON.readTree(lines[i]);
                Classification expected = c.classify(photos.get(i));
                assertEquals(photos.get(i).toString(), o.path("path").asText());
                assertEquals(3, o.path("top").size());
                for (int j = 0; j < 3; j++) {
                    assertEquals(expected.top(3).get(j).label(), o.path("top").get(j).path("label").asText());
                    assertEquals(expected.top(3).get(j).index(), o.path("top").get(j).path("index").asInt());
                    assertEquals(expected.top(3).get(j).score(), o.path("top").get(j).path("score").floatValue(), 1e-6);
                }
                assertEquals(expected.best().label(), o.path("labels").get(0).asText(), "multi-class: the top label");
                assertEquals(1, o.path("labels").size());
            }
        }
        assertEquals("beagle", JSON.readTree(lines[0]).path("top").get(0).path("label").asText());
        assertEquals("Bombay", JSON.readTree(lines[1]).path("top").get(0).path("label").asText());

        CliRun text = CliRun.vitfit("predict", "--classifier", classifier.toString(), photos.get(0).toString());
        assertEquals(0, text.exit(), text.err());
        assertTrue(text.out().lines().skip(1).findFirst().orElse("").trim().matches("\\d+\\.\\d\\d% {2}beagle \\(\\d\\)"),
                text.out());
    }

    /** A folder with two photos and a broken file, through the classifier into a CSV file: the run goes on. */
    @Test
    void predictOverAFolderWithABrokenFileClassifiesTheRest() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("mixed"));
        Files.copy(photo("beagle"), dir.resolve("1-beagle.jpg"));
        byte[] bombay = Files.readAllBytes(photo("Bombay"));
        Files.write(dir.resolve("2-broken.jpg"), java.util.Arrays.copyOf(bombay, bombay.length / 4));
        Files.copy(photo("Bombay"), dir.resolve("3-bombay.jpg"));
        Path csv = tmp.resolve("mixed.csv");
        CliRun r = CliRun.vitfit("predict", "--classifier", classifier.toString(), dir.toString(), "--output",
                csv.toString(), "--top-k", "2");
        assertEquals(PredictCommand.SOME_FAILED, r.exit(), r.err());
        List<String> lines = Files.readAllLines(csv);
        assertEquals(4, lines.size(), String.join("\n", lines));
        try (VitClassifier c = VitClassifier.load(classifier)) {
            for (int row : new int[] {1, 3}) {
                String file = row == 1 ? "1-beagle.jpg" : "3-bombay.jpg";
                Classification expected = c.classify(dir.resolve(file));
                String[] f = lines.get(row).split(",");
                assertEquals(dir.resolve(file).toString(), f[0]);
                assertEquals(expected.best().label(), f[1], "labels");
                assertEquals(expected.best().index(), Integer.parseInt(f[2]), "class index");
                assertEquals(c.labels().indexOf(f[3]), Integer.parseInt(f[2]));
                assertEquals(expected.best().score(), Float.parseFloat(f[4]), 1e-6);
            }
        }
        assertTrue(lines.get(2).startsWith(dir.resolve("2-broken.jpg") + ",,,,,,,,truncated,"), lines.get(2));
    }

    @Test
    void multiLabelPredictionsListTheLabelsAboveTheirThresholds() throws Exception {
        Path photo = photo("pug");
        CliRun json = CliRun.vitfit("predict", "--classifier", multiLabelClassifier.toString(), "--json", photo.toString());
        assertEquals(0, json.exit(), json.err());
        JsonNode o = JSON.readTree(json.out().strip());
        try (VitClassifier c = VitClassifier.load(multiLabelClassifier)) {
            List<String> expected = c.classify(photo).activeLabels();
            List<String> printed = new ArrayList<>();
            o.path("labels").forEach(l -> printed.add(l.asText()));
            assertTrue(o.has("labels"));
            assertEquals(expected, printed);
        }
        CliRun text = CliRun.vitfit("predict", "--classifier", multiLabelClassifier.toString(), photo.toString());
        assertTrue(text.out().contains("  labels: "), text.out());
    }

    @Test
    void predictNeedsExactlyOneOfModelAndClassifier() throws IOException {
        String image = photo("pug").toString();
        CliRun both = CliRun.vitfit("predict", "--model", model.toString(), "--classifier", classifier.toString(), image);
        assertEquals(2, both.exit());
        assertTrue(both.err().contains("mutually exclusive"), both.err());
        CliRun neither = CliRun.vitfit("predict", image);
        assertEquals(2, neither.exit());
        assertTrue(neither.err().contains("--model") && neither.err().contains("--classifier"), neither.err());
        CliRun notAClassifier = CliRun.vitfit("predict", "--classifier", model.resolve("vitfit-model.json").toString(), image);
        assertEquals(1, notAClassifier.exit());
        assertTrue(notAClassifier.err().contains("neither a .vitfit file nor an ONNX model"), notAClassifier.err());
    }

    /** {@code vitfit serve} on a free port answers a prediction, then stops when its thread is interrupted. */
    @Test
    void serveAnswersPredictUntilStopped() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream oldOut = System.out;
        int[] exit = {-1};
        Thread server = new Thread(() -> exit[0] = VitfitCli.commandLine().execute("serve", "--classifier",
                classifier.toString(), "--port", "0", "--quiet"), "serve-under-test");
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            server.start();
            URI uri = null;
            Pattern url = Pattern.compile("at (http://127\\.0\\.0\\.1:\\d+/)");
            for (long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60); uri == null
                    && System.nanoTime() < deadline; ) {
                Matcher m = url.matcher(out.toString(StandardCharsets.UTF_8));
                if (m.find()) {
                    uri = URI.create(m.group(1));
                } else {
                    Thread.sleep(100);
                }
            }
            assertTrue(uri != null, "serve printed no address: " + out);
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(uri.resolve("predict"))
                    .header("Content-Type", "image/jpeg")
                    .POST(HttpRequest.BodyPublishers.ofFile(photo("beagle"))).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            assertEquals("beagle", JSON.readTree(r.body()).path("top").get(0).path("label").asText());
        } finally {
            server.interrupt();
            server.join(TimeUnit.SECONDS.toMillis(30));
            System.setOut(oldOut);
        }
        assertFalse(server.isAlive());
        assertEquals(0, exit[0]);
    }

    /**
     * {@code examples/classify-image} is a separate Maven project that depends only on vitfit-runtime: install the
     * runtime this build made (and the parent pom it inherits versions from) into the local repository, build a copy
     * of the example with Maven, run its jar on the exported classifier and compare with the library's own answer.
     */
    @Test
    void theExampleProjectBuildsAndClassifiesWithOnlyTheRuntime() throws Exception {
        Path work = Files.createDirectories(tmp.resolve("example-build"));
        Path runtimeJar = runtimeJar(work);
        String mvnw = CliRun.root().resolve("mvnw").toString();
        String installPlugin = "org.apache.maven.plugins:maven-install-plugin:3.1.3:install-file";
        run(work, List.of(mvnw, "-q", "-B", installPlugin, "-Dfile=" + CliRun.root().resolve("pom.xml"),
                "-DpomFile=" + CliRun.root().resolve("pom.xml")));
        run(work, List.of(mvnw, "-q", "-B", installPlugin, "-Dfile=" + runtimeJar,
                "-DpomFile=" + CliRun.root().resolve("runtime/pom.xml")));

        Path project = work.resolve("classify-image");
        Path source = CliRun.root().resolve("examples/classify-image");
        try (Stream<Path> files = Files.walk(source)) {
            for (Path p : files.filter(f -> !source.relativize(f).startsWith("target")).toList()) {
                Path to = project.resolve(source.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(to);
                } else {
                    Files.copy(p, to);
                }
            }
        }
        run(project, List.of(mvnw, "-q", "-B", "package", "-Dvitfit.version=" + VitfitVersion.get()));

        Path photo = photo("Abyssinian");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String output = run(project, List.of(java, "-jar", project.resolve("target/classify-image.jar").toString(),
                classifier.toString(), photo.toString()));
        List<String> lines = output.lines().toList();
        assertEquals(classifier + ": multiclass, 4 labels", lines.get(0), output);
        assertEquals(photo.toString(), lines.get(1), output);
        try (VitClassifier c = VitClassifier.load(classifier)) {
            Classification.ScoredLabel best = c.classify(photo).best();
            assertEquals(String.format(Locale.ROOT, "  %6.2f%%  %s", 100 * best.score(), best.label()),
                    lines.get(2), output);
            assertEquals("Abyssinian", best.label());
        }
    }

    /** The runtime classes this test runs with, as a jar (a reactor build may give a classes directory). */
    private static Path runtimeJar(Path work) throws IOException {
        Path location;
        try {
            location = Path.of(VitClassifier.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (java.net.URISyntaxException e) {
            throw new IOException(e);
        }
        Path jar = work.resolve("vitfit-runtime.jar");
        if (Files.isRegularFile(location)) {
            return Files.copy(location, jar);
        }
        try (OutputStream os = Files.newOutputStream(jar); JarOutputStream out = new JarOutputStream(os);
             Stream<Path> files = Files.walk(location)) {
            for (Path p : files.filter(Files::isRegularFile).sorted().toList()) {
                out.putNextEntry(new JarEntry(location.relativize(p).toString().replace('\\', '/')));
                Files.copy(p, out);
                out.closeEntry();
            }
        }
        return jar;
    }

    private static String run(Path dir, List<String> command) throws IOException, InterruptedException {
        Path log = Files.createTempFile(tmp, "process", ".log");
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        boolean done = p.waitFor(5, TimeUnit.MINUTES);
        String output = Files.readString(log);
        if (!done) {
            p.destroyForcibly();
        }
        assertTrue(done && p.exitValue() == 0, String.join(" ", command) + " failed:\n" + output);
        return output;
    }
}
