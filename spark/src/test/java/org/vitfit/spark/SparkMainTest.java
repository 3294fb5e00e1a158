package org.vitfit.spark;

import org.junit.jupiter.api.Test;
import org.vitfit.heads.Head;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The spark-submit entry point in this JVM's local session: the README's embed then train with nothing in between,
 * and user mistakes as one {@code error:} line each.
 */
class SparkMainTest {

    private static final List<String> BREEDS = List.of("Abyssinian", "Bengal", "Birman", "Bombay");

    private record Result(int exit, String err) {
    }

    private static Result sparkMain(String... args) {
        StringWriter err = new StringWriter();
        var cl = SparkMain.commandLine();
        cl.setErr(new PrintWriter(err, true));
        return new Result(cl.execute(args), err.toString());
    }

    /** Four breed folders of the fixture (with its planted bad files): an ImageFolder tree. */
    private static Path fourBreeds(Fixtures f) throws IOException {
        Path dir = Files.createTempDirectory(f.work, "four-breeds");
        for (String breed : BREEDS) {
            Files.createDirectories(dir.resolve(breed));
            try (Stream<Path> s = Files.list(f.images.resolve(breed))) {
                for (Path p : s.toList()) {
                    Files.copy(p, dir.resolve(breed).resolve(p.getFileName()));
                }
            }
        }
        return dir;
    }

    @Test
    void embedThenTrainWorksWithNothingInBetween() throws IOException {
        Fixtures f = Fixtures.get();
        Path images = fourBreeds(f);
        Path out = f.work.resolve("main-embeddings");
        Result embed = sparkMain("embed", "--model", f.model.toString(), "--input", images.toString(), "--output",
                out.toString(), "--batch-size", "8", "--partitions", "3");
        assertEquals(0, embed.exit(), embed.err());
        Path head = f.work.resolve("main-head");
        Result train = sparkMain("train", "--embeddings", out.toString(), "--output", head.toString(), "--fractions",
                "0.5,0,0.5", "--seed", "7");
        assertEquals(0, train.exit(), train.err());
        Head loaded = Head.load(head);
        assertEquals(BREEDS, loaded.labels().stream().sorted().toList(), "labels from the folders, as extract gives");
        assertEquals(20L, ((Number) loaded.metadata().training().get("trainingRows")).longValue(),
                "5 of the 10 photos per breed; the 2 planted bad files are error rows");

        Result again = sparkMain("embed", "--model", f.model.toString(), "--input", images.toString(), "--output",
                out.toString());
        assertEquals(1, again.exit());
        assertEquals("error: " + out + " already exists; choose a new --output (a Spark output directory is never "
                + "replaced)\n", again.err());
        Result headExists = sparkMain("train", "--embeddings", out.toString(), "--output", head.toString());
        assertEquals(1, headExists.exit());
        assertTrue(headExists.err().startsWith("error: " + head + " already exists"), headExists.err());
        assertEquals(1, headExists.err().lines().count(), headExists.err());
    }

    @Test
    void userMistakesEndInOneErrorLine() throws IOException {
        Fixtures f = Fixtures.get();
        Result noModel = sparkMain("embed", "--model", "no-such-model", "--input", f.images.toString(), "--output",
                f.work.resolve("never").toString());
        assertEquals(1, noModel.exit());
        assertTrue(noModel.err().startsWith("error: no-such-model: no converted model (vitfit-model.json) in "
                + Path.of("no-such-model").toAbsolutePath()), noModel.err());
        assertEquals(1, noModel.err().lines().count(), noModel.err());

        // VitfitSpark.embed without folder labels: nothing to train on
        Result noLabels = sparkMain("train", "--embeddings", f.petsParquet().toString(), "--output",
                f.work.resolve("never-head").toString());
        assertEquals(1, noLabels.exit());
        assertTrue(noLabels.err().startsWith("error: the embeddings have no 'labels' (array<string>) or 'label' "
                + "(string) column"), noLabels.err());
        assertEquals(1, noLabels.err().lines().count(), noLabels.err());

        // only images that cannot be decoded: every row is an error row
        Path broken = Files.createDirectories(f.work.resolve("broken/cats"));
        Files.copy(f.images.resolve(Fixtures.TEXT), broken.resolve("a.jpg"));
        Files.copy(f.images.resolve(Fixtures.TRUNCATED), broken.resolve("b.jpg"));
        Path out = f.work.resolve("broken-embeddings");
        assertEquals(0, sparkMain("embed", "--model", f.model.toString(), "--input", broken.getParent().toString(),
                "--output", out.toString()).exit());
        Result noRows = sparkMain("train", "--embeddings", out.toString(), "--output",
                f.work.resolve("never-head").toString());
        assertEquals(1, noRows.exit());
        assertEquals("error: no embedded rows to train on (every row is an error row, or the input is empty)\n",
                noRows.err());

        Result badFractions = sparkMain("train", "--embeddings", out.toString(), "--output",
                f.work.resolve("never-head").toString(), "--fractions", "0.5,0.5,0.5");
        assertEquals(1, badFractions.exit());
        assertTrue(badFractions.err().startsWith("error: split fractions must"), badFractions.err());
    }
}
