package org.vitfit.io;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafeOutputTest {

    @TempDir
    Path tmp;

    private static Path writeHead(Path out, boolean overwrite, String content) throws IOException {
        return SafeOutput.writeDirectory(out, OutputKind.HEAD, overwrite, List.of(), dir -> {
            Files.writeString(dir.resolve("head.json"), content);
            return dir;
        });
    }

    /** A user's project folder, as in the report: src/Main.java and a README. */
    private Path project() throws IOException {
        Path p = tmp.resolve("project");
        Files.createDirectories(p.resolve("src"));
        Files.writeString(p.resolve("src/Main.java"), "class Main {}");
        Files.writeString(p.resolve("README.md"), "mine");
        return p;
    }

    @Test
    void writesNewDirectoryWithMarkerAndNoLeftovers() throws IOException {
        Path out = tmp.resolve("head");
        writeHead(out, false, "v1");
        assertEquals("v1", Files.readString(out.resolve("head.json")));
        assertEquals(OutputKind.HEAD, OutputMarker.read(out).orElseThrow().kind());
        assertEquals(List.of("head"), names(tmp));
    }

    @Test
    void overwriteReplacesAnEarlierOutputOfTheSameKind() throws IOException {
        Path out = tmp.resolve("head");
        writeHead(out, false, "v1");
        OutputRefusedException noFlag = assertThrows(OutputRefusedException.class, () -> writeHead(out, false, "v2"));
        assertTrue(noFlag.getMessage().contains("--overwrite"), noFlag.getMessage());
        writeHead(out, true, "v2");
        assertEquals("v2", Files.readString(out.resolve("head.json")));
        assertEquals(List.of("head"), names(tmp));
    }

    @Test
    void overwriteRefusesAUsersDirectoryAndLeavesItUntouched() throws IOException {
        Path p = project();
        OutputRefusedException e = assertThrows(OutputRefusedException.class, () -> writeHead(p, true, "x"));
        assertTrue(e.getMessage().contains("not written by vitfit"), e.getMessage());
        assertTrue(e.getMessage().contains("README.md, src/"), e.getMessage());
        assertEquals("class Main {}", Files.readString(p.resolve("src/Main.java")));
        assertEquals(List.of("project"), names(tmp));
    }

    @Test
    void overwriteRefusesTheCurrentDirectoryStyleDotPath() throws IOException {
        Path p = project();
        Path dot = p.resolve(".");
        assertThrows(OutputRefusedException.class, () -> writeHead(dot, true, "x"));
        assertTrue(Files.exists(p.resolve("README.md")));
    }

    @Test
    void anotherKindIsNotReplaced() throws IOException {
        Path out = tmp.resolve("cache");
        SafeOutput.openInPlace(out, OutputKind.CACHE, null, List.of());
        Files.writeString(out.resolve("header.json"), "{}");
        OutputRefusedException e = assertThrows(OutputRefusedException.class, () -> writeHead(out, true, "x"));
        assertTrue(e.getMessage().contains("embedding cache, not a head"), e.getMessage());
        assertTrue(Files.exists(out.resolve("header.json")));
    }

    @Test
    void anEmptyDirectoryIsAdopted() throws IOException {
        Path out = Files.createDirectory(tmp.resolve("empty"));
        writeHead(out, false, "v1");
        assertEquals("v1", Files.readString(out.resolve("head.json")));
    }

    @Test
    void aFailingWriterKeepsThePreviousOutputAndLeavesNoTemporary() throws IOException {
        Path out = tmp.resolve("head");
        writeHead(out, false, "v1");
        assertThrows(IOException.class, () -> SafeOutput.writeDirectory(out, OutputKind.HEAD, true, List.of(), dir -> {
            Files.writeString(dir.resolve("head.json"), "partial");
            throw new IOException("disk full");
        }));
        assertEquals("v1", Files.readString(out.resolve("head.json")));
        assertEquals(List.of("head"), names(tmp));
    }

    @Test
    void outputsOverlappingAnInputAreRefused() throws IOException {
        Path images = Files.createDirectories(tmp.resolve("data/images"));
        Files.writeString(images.resolve("a.jpg"), "x");
        List<SafeOutput.Input> in = List.of(SafeOutput.Input.of("--input", images));
        for (Path out : List.of(images, tmp.resolve("data"), images.resolve("out"), tmp)) {
            OutputRefusedException e = assertThrows(OutputRefusedException.class,
                    () -> SafeOutput.writeDirectory(out, OutputKind.FINETUNE, true, in, d -> null), out.toString());
            assertTrue(e.getMessage().contains("--input"), e.getMessage());
        }
        Path link = Files.createSymbolicLink(tmp.resolve("link"), images);
        assertThrows(OutputRefusedException.class,
                () -> SafeOutput.writeDirectory(link, OutputKind.FINETUNE, true, in, d -> null));
        assertTrue(Files.exists(images.resolve("a.jpg")));
    }

    @Test
    void aCrashBetweenTheTwoRenamesIsRecoveredByTheNextWrite() throws IOException {
        Path out = tmp.resolve("head");
        writeHead(out, false, "v1");
        // What a crash after "old aside" and before "new in" leaves behind.
        Durable.moveAtomically(out, Durable.temporarySibling(out, "old"), false);
        assertFalse(Files.exists(out));
        OutputRefusedException e = assertThrows(OutputRefusedException.class, () -> writeHead(out, false, "v2"));
        assertEquals("v1", Files.readString(out.resolve("head.json")), e.getMessage());
    }

    @Test
    void filesAreReplacedOnlyWhenRecognisedAsOurs() throws IOException {
        Path f = tmp.resolve("out.csv");
        SafeOutput.Ownership ours = p -> Files.readString(p).startsWith("vitfit");
        SafeOutput.writeFile(f, OutputKind.PREDICTIONS, ours, false, List.of(), t -> Files.writeString(t, "vitfit 1"));
        assertThrows(OutputRefusedException.class, () -> SafeOutput.writeFile(f, OutputKind.PREDICTIONS, ours, false,
                List.of(), t -> Files.writeString(t, "vitfit 2")));
        SafeOutput.writeFile(f, OutputKind.PREDICTIONS, ours, true, List.of(), t -> Files.writeString(t, "vitfit 2"));
        assertEquals("vitfit 2", Files.readString(f));

        Path mine = tmp.resolve("notes.txt");
        Files.writeString(mine, "my notes");
        OutputRefusedException e = assertThrows(OutputRefusedException.class, () -> SafeOutput.writeFile(mine,
                OutputKind.PREDICTIONS, ours, true, List.of(), t -> Files.writeString(t, "vitfit")));
        assertTrue(e.getMessage().contains("not a prediction file written by vitfit"), e.getMessage());
        assertEquals("my notes", Files.readString(mine));
        assertEquals(List.of("notes.txt", "out.csv"), names(tmp));
    }

    @Test
    void inPlaceOutputsAdoptEmptyOrLegacyDirectoriesOnly() throws IOException {
        Path fresh = tmp.resolve("cache");
        SafeOutput.openInPlace(fresh, OutputKind.CACHE, null, List.of());
        assertTrue(SafeOutput.isOurs(fresh, OutputKind.CACHE));

        Path legacy = Files.createDirectories(tmp.resolve("old-cache"));
        Files.writeString(legacy.resolve("header.json"), "{\"format\":\"vitfit-embedding-cache\"}");
        SafeOutput.openInPlace(legacy, OutputKind.CACHE, p -> Files.exists(p.resolve("header.json")), List.of());
        assertTrue(SafeOutput.isOurs(legacy, OutputKind.CACHE));

        Path p = project();
        assertThrows(OutputRefusedException.class, () -> SafeOutput.openInPlace(p, OutputKind.CACHE,
                d -> Files.exists(d.resolve("header.json")), List.of()));
        assertFalse(Files.exists(p.resolve(OutputMarker.FILE_NAME)));
    }

    @Test
    void aForgedOrForeignMarkerProvesNothing() throws IOException {
        Path p = project();
        Files.writeString(p.resolve(OutputMarker.FILE_NAME), "{\"kind\":\"head\"}");
        assertThrows(OutputRefusedException.class, () -> writeHead(p, true, "x"));
        assertTrue(Files.exists(p.resolve("README.md")));
    }

    @Test
    void temporariesOfAKilledWriteAreDeletedByTheNextWriteAndThoseOfARunningOneKept() throws Exception {
        Path out = tmp.resolve("head");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process child = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                StalledWrite.class.getName(), out.toString()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getInputStream(),
                StandardCharsets.UTF_8))) {
            assertEquals("writing", r.readLine());
            // Another process is mid-write: its temporary is left alone while this write goes ahead.
            writeHead(out, false, "v1");
            assertEquals(3, names(tmp).size(), names(tmp).toString()); // head, the child's temporary and its lock
        } finally {
            child.destroyForcibly(); // kill -9: no cleanup runs in the child
            child.waitFor(30, TimeUnit.SECONDS);
        }
        writeHead(out, true, "v2");
        assertEquals(List.of("head"), names(tmp));
        assertEquals("v2", Files.readString(out.resolve("head.json")));
    }

    @Test
    void leftoverTemporariesAreDeletedOnlyWithTheirLockFile() throws IOException {
        Path out = tmp.resolve("scores.csv");
        Path dead = Files.writeString(tmp.resolve(".scores.csv.vitfit-tmp-0badf00d"), "half a file");
        Files.createFile(tmp.resolve(".scores.csv.vitfit-tmp-0badf00d.lock"));
        Files.createFile(tmp.resolve(".scores.csv.vitfit-tmp-00000000.lock")); // died before its temporary existed
        // Named like a temporary but without a lock file: nothing proves vitfit made it, so it stays.
        Path unproven = Files.writeString(tmp.resolve(".scores.csv.vitfit-tmp-12345678"), "keep");
        // Held by a write still running in this JVM.
        Path running = Files.writeString(tmp.resolve(".scores.csv.vitfit-tmp-87654321"), "in progress");
        try (FileChannel lock = FileChannel.open(tmp.resolve(".scores.csv.vitfit-tmp-87654321.lock"),
                StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            lock.lock();
            SafeOutput.writeFile(out, OutputKind.SCORES, p -> false, false, List.of(), t -> Files.writeString(t, "x"));
        }
        assertFalse(Files.exists(dead));
        assertEquals(List.of(".scores.csv.vitfit-tmp-12345678", ".scores.csv.vitfit-tmp-87654321",
                ".scores.csv.vitfit-tmp-87654321.lock", "scores.csv"), names(tmp));
        assertEquals("keep", Files.readString(unproven));
        assertEquals("in progress", Files.readString(running));
    }

    @Test
    void outputNamesWithGlobCharactersAreWrittenAndRecovered() throws IOException {
        // The recovery of an interrupted replace listed ".NAME.vitfit-old-*" as a glob: "a{b" failed every write
        for (String name : List.of("a{b", "run[1]", "x*?")) {
            Path out = tmp.resolve(name);
            writeHead(out, false, "v1");
            writeHead(out, true, "v2");
            Durable.moveAtomically(out, Durable.temporarySibling(out, "old"), false);
            assertThrows(OutputRefusedException.class, () -> writeHead(out, false, "v3"));
            assertEquals("v2", Files.readString(out.resolve("head.json")), name);
        }
    }

    @Test
    void aReadOnlyOutputIsRefusedBeforeTheWorkNotFoundOutAfterIt() throws IOException {
        // root may write anywhere: the check is then moot (checked by hand as 'nobody', see the runtime README)
        Assumptions.assumeFalse("root".equals(System.getProperty("user.name")), "runs as root");
        Path out = tmp.resolve("head");
        writeHead(out, false, "v1");
        Files.setPosixFilePermissions(out, PosixFilePermissions.fromString("r-xr-xr-x"));
        try {
            // the new head used to be put in place, then deleting the old one failed: exit 1, old copy left beside it
            OutputRefusedException e = assertThrows(OutputRefusedException.class, () -> writeHead(out, true, "v2"));
            assertTrue(e.getMessage().contains(out + " is not writable (permission denied)"), e.getMessage());
            assertEquals("v1", Files.readString(out.resolve("head.json")));
            assertEquals(List.of("head"), names(tmp));
            Path readOnly = Files.createDirectory(tmp.resolve("ro"));
            Files.setPosixFilePermissions(readOnly, PosixFilePermissions.fromString("r-xr-xr-x"));
            OutputRefusedException parent = assertThrows(OutputRefusedException.class,
                    () -> SafeOutput.checkDirectory(readOnly.resolve("new"), OutputKind.HEAD, false, List.of()));
            assertTrue(parent.getMessage().contains(readOnly + " is not writable"), parent.getMessage());
        } finally {
            for (Path p : List.of(out, tmp.resolve("ro"))) {
                if (Files.exists(p)) {
                    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
                }
            }
        }
    }

    /** A write that stalls after it has started, for the test above to kill. */
    public static final class StalledWrite {
        public static void main(String[] args) throws Exception {
            SafeOutput.writeDirectory(Path.of(args[0]), OutputKind.HEAD, false, List.of(), dir -> {
                Files.writeString(dir.resolve("head.json"), "never finished");
                System.out.println("writing");
                System.out.flush();
                try {
                    Thread.sleep(60_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return null;
            });
        }
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(x -> x.getFileName().toString()).sorted().toList();
        }
    }
}
