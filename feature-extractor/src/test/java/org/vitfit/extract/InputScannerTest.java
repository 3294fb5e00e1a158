package org.vitfit.extract;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InputScannerTest {

    @TempDir
    Path tmp;

    private Path touch(String rel) throws IOException {
        Path p = tmp.resolve(rel);
        Files.createDirectories(p.getParent());
        Files.write(p, new byte[] {1});
        return p;
    }

    private static List<String> paths(InputSet s) {
        return s.items().stream().map(InputItem::path).toList();
    }

    @Test
    void imageFolderLabelsComeFromTheTopFolderAndNestedImagesKeepThem() throws IOException {
        touch("data/cat/b.jpg");
        touch("data/cat/a.JPEG");
        touch("data/cat/deeper/c.png");
        touch("data/dog/d.webp");
        touch("data/dog/notes.txt");
        touch("data/dog/.hidden.jpg");
        touch("data/.thumbs/e.jpg");
        InputSet s = InputScanner.scan(tmp.resolve("data"), List.of(), List.of());
        assertEquals(InputSet.Kind.IMAGE_FOLDER, s.kind());
        assertEquals(List.of("cat/a.JPEG", "cat/b.jpg", "cat/deeper/c.png", "dog/d.webp"), paths(s));
        assertEquals(List.of(List.of("cat"), List.of("cat"), List.of("cat"), List.of("dog")),
                s.items().stream().map(InputItem::labels).toList());
        assertEquals(tmp.resolve("data/cat/deeper/c.png"), s.items().get(2).file());
    }

    @Test
    void symlinkedImagesAndFoldersAreFollowedAndLoopsSkipped() throws IOException {
        Path real = touch("store/blob.png");
        Files.createDirectories(tmp.resolve("linked/cat"));
        Files.createSymbolicLink(tmp.resolve("linked/cat/a.png"), real);
        Files.createSymbolicLink(tmp.resolve("linked/dog"), tmp.resolve("store"));
        Files.createSymbolicLink(tmp.resolve("store/loop"), tmp.resolve("store"));
        InputSet s = InputScanner.scan(tmp.resolve("linked"), List.of(), List.of());
        assertEquals(List.of("cat/a.png", "dog/blob.png"), paths(s));
        assertEquals(List.of("dog"), s.items().get(1).labels());
    }

    @Test
    void imagesAtTheTopMakeAPlainUnlabelledFolder() throws IOException {
        touch("flat/x.jpg");
        touch("flat/sub/y.jpg");
        InputSet s = InputScanner.scan(tmp.resolve("flat"), List.of(), List.of());
        assertEquals(InputSet.Kind.PLAIN_FOLDER, s.kind());
        assertEquals(List.of("sub/y.jpg", "x.jpg"), paths(s));
        assertTrue(s.items().stream().allMatch(i -> i.labels().isEmpty() && i.split() == null));
    }

    @Test
    void includeAndExcludeGlobsMatchFileNamesOrWholePaths() throws IOException {
        touch("d/cat/a.jpg");
        touch("d/cat/b.png");
        touch("d/dog/c.jpg");
        Path d = tmp.resolve("d");
        assertEquals(List.of("cat/a.jpg", "dog/c.jpg"), paths(InputScanner.scan(d, List.of("*.jpg"), List.of())));
        assertEquals(List.of("cat/a.jpg", "cat/b.png"), paths(InputScanner.scan(d, List.of("cat/*"), List.of())));
        assertEquals(List.of("cat/b.png"), paths(InputScanner.scan(d, List.of(), List.of("*.jpg"))));
        InputException e = assertThrows(InputException.class, () -> InputScanner.scan(d, List.of("*.gif"), List.of()));
        assertTrue(e.getMessage().contains("no images in " + d + " match --include [*.gif]"), e.getMessage());
    }

    @Test
    void csvManifestWithQuotesMultipleLabelsAndSplits() throws IOException {
        Path m = tmp.resolve("m/labels.csv");
        Files.createDirectories(m.getParent());
        Files.writeString(m, "\uFEFFpath,labels,split,extra\r\n"
                + "images/a.jpg,dog|cat| dog ,train,1\r\n"
                + "\"images/b, with comma.jpg\",\"teddy bear\",val,\"say \"\"hi\"\"\"\n"
                + "/abs/c.jpg,,,\n"
                + "\n");
        InputSet s = InputScanner.scan(m, List.of(), List.of());
        assertEquals(InputSet.Kind.CSV_MANIFEST, s.kind());
        assertEquals(List.of("images/a.jpg", "images/b, with comma.jpg", "/abs/c.jpg"), paths(s));
        assertEquals(List.of("dog", "cat"), s.items().get(0).labels());
        assertEquals("train", s.items().get(0).split());
        assertEquals(List.of("teddy bear"), s.items().get(1).labels());
        assertEquals("val", s.items().get(1).split());
        assertEquals(List.of(), s.items().get(2).labels());
        assertNull(s.items().get(2).split());
        assertEquals(tmp.resolve("m/images/a.jpg"), s.items().get(0).file());
        assertEquals(Path.of("/abs/c.jpg"), s.items().get(2).file());
        assertEquals("labels.csv line 3", s.items().get(1).origin());
    }

    @Test
    void jsonlManifestTakesLabelStringsOrArrays() throws IOException {
        Path m = tmp.resolve("list.jsonl");
        Files.writeString(m, "{\"path\": \"a.jpg\", \"labels\": [\"x\", \"y\"], \"split\": \"train\"}\n"
                + "\n"
                + "{\"path\": \"b.jpg\", \"label\": \"z\"}\n"
                + "{\"path\": \"c.jpg\", \"labels\": null}\n");
        InputSet s = InputScanner.scan(m, List.of(), List.of());
        assertEquals(List.of("a.jpg", "b.jpg", "c.jpg"), paths(s));
        assertEquals(List.of("x", "y"), s.items().get(0).labels());
        assertEquals(List.of("z"), s.items().get(1).labels());
        assertEquals(List.of(), s.items().get(2).labels());
        assertEquals("list.jsonl line 3", s.items().get(1).origin());
    }

    @Test
    void badManifestLinesAreNamedByFileAndLine() throws IOException {
        assertError("bad.csv", "path,labels\na.jpg,x\nb.jpg\n", "bad.csv line 3: 1 fields, the header has 2");
        assertError("bad.csv", "path,labels\na.jpg,x\n\"b.jpg,y\n", "bad.csv line 3: quoted field is never closed");
        assertError("bad.csv", "file,labels\na.jpg,x\n", "bad.csv line 1: no 'path' column (columns: file, labels); "
                + "name the column holding the image paths with --path-column");
        assertError("bad.csv", "path\na.jpg\nb.jpg\na.jpg\n", "bad.csv line 4: 'a.jpg' is already listed on line 2");
        assertError("bad.csv", "path,labels\n,x\n", "bad.csv line 2: empty path");
        assertError("bad.csv", "path,labels\n\"a.jpg\"x,y\n", "bad.csv line 2: text after a closing quote");
        assertError("bad.jsonl", "{\"path\": \"a.jpg\"}\n{\"path\": \"b.jpg\",\n", "bad.jsonl line 2: not valid JSON");
        assertError("bad.jsonl", "[1, 2]\n", "bad.jsonl line 1: expected a JSON object");
        assertError("bad.jsonl", "{\"path\": 3}\n", "bad.jsonl line 1: 'path' must be a string");
        assertError("bad.jsonl", "{\"path\": \"a\", \"labels\": [1]}\n", "bad.jsonl line 1: labels must be strings");
        assertError("bad.jsonl", "{\"path\": \"a\", \"split\": 2}\n", "bad.jsonl line 1: 'split' must be a string");
        // a column or field named twice: the first (CSV) or last (JSON) copy used to win without a word
        assertError("bad.csv", "path,labels,Labels\na.jpg,cat,dog\n", "bad.csv line 1: the column 'labels' appears 2 "
                + "times (columns 2 and 3); rename or remove the copies");
        assertError("bad.csv", "path,labels,path\na.jpg,cat,b.jpg\n", "bad.csv line 1: the column 'path' appears 2 "
                + "times (columns 1 and 3)");
        assertError("bad.jsonl", "{\"path\": \"a.jpg\", \"labels\": [\"cat\"], \"labels\": [\"dog\"]}\n",
                "bad.jsonl line 1: not valid JSON (Duplicate field 'labels')");
        // a column nobody reads may repeat
        assertEquals(1, scan("notes.csv", "path,note,note\na.jpg,x,y\n", ManifestFormat.DEFAULT).items().size());

        Path latin1 = tmp.resolve("latin1.csv");
        Files.write(latin1, "path\nok.jpg\ncaf\u00e9.jpg\n".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        InputException e = assertThrows(InputException.class, () -> InputScanner.scan(latin1, List.of(), List.of()));
        assertTrue(e.getMessage().contains("latin1.csv line 3: not UTF-8"), e.getMessage());
    }

    private InputSet scan(String name, String content, ManifestFormat format) throws IOException {
        Path m = tmp.resolve(name);
        Files.writeString(m, content);
        return InputScanner.scan(m, List.of(), List.of(), format);
    }

    private void assertError(String name, String content, ManifestFormat format, String expected) throws IOException {
        Path m = tmp.resolve(name);
        Files.writeString(m, content);
        InputException e = assertThrows(InputException.class, () -> InputScanner.scan(m, List.of(), List.of(), format));
        assertEquals(expected, e.getMessage());
    }

    @Test
    void manifestColumnsCanBeNamedAndLabelsSeparatedOtherwise() throws IOException {
        ManifestFormat f = ManifestFormat.DEFAULT.withPathColumn("File_Name").withLabelsColumn("tags")
                .withSplitColumn("subset").withLabelSeparator(";");
        InputSet s = scan("custom.csv", "id,file_name,tags,subset\n7,a.jpg,cat; dog;cat,train\n8,b.jpg,,test\n", f);
        assertEquals(List.of("a.jpg", "b.jpg"), paths(s));
        assertEquals(List.of("cat", "dog"), s.items().get(0).labels());
        assertEquals("train", s.items().get(0).split());
        assertEquals(List.of(), s.items().get(1).labels());
        assertEquals("test", s.items().get(1).split());

        // The same names in a JSONL manifest; a separator given explicitly splits JSONL strings too.
        InputSet j = scan("custom.jsonl", "{\"file_name\": \"a.jpg\", \"tags\": \"x;y\", \"subset\": \"val\"}\n", f);
        assertEquals(List.of("x", "y"), j.items().get(0).labels());
        assertEquals("val", j.items().get(0).split());

        assertError("custom.csv", "path,labels\na.jpg,x\n", f, "custom.csv line 1: no column 'File_Name' "
                + "(--path-column); the columns are: path, labels");
        assertError("custom.csv", "file_name,labels\na.jpg,x\n", f, "custom.csv line 1: no column 'tags' "
                + "(--labels-column); the columns are: file_name, labels");
        assertError("custom.jsonl", "{\"file_name\": \"a.jpg\", \"subset\": \"val\"}\n", f,
                "custom.jsonl line 1: no field 'tags' (--labels-column)");

        Path folder = Files.createDirectories(tmp.resolve("folder/cat"));
        touch("folder/cat/1.jpg");
        InputException e = assertThrows(InputException.class,
                () -> InputScanner.scan(folder.getParent(), List.of(), List.of(), f));
        assertTrue(e.getMessage().contains("describe a CSV or JSONL manifest, but " + folder.getParent()
                + " is a folder"), e.getMessage());
        IllegalArgumentException both = assertThrows(IllegalArgumentException.class,
                () -> f.withLabelColumns(List.of("cat")));
        assertTrue(both.getMessage().contains("not both"), both.getMessage());
    }

    /** pandas writes a list column as ['cat', 'dog']; JSON tools as ["cat","dog"]. Never one label named so. */
    @Test
    void labelCellsThatLookLikeListsAreReadAsListsOrRefused() throws IOException {
        InputSet s = scan("lists.csv", "path,labels\n"
                + "a.jpg,\"['cat', 'dog']\"\n"
                + "b.jpg,\"[\"\"cat\"\",\"\"bird\"\"]\"\n"
                + "c.jpg,\"[\"\"dog's toy\"\", 'say \\'hi\\'' ,]\"\n"
                + "d.jpg,[]\n"
                + "e.jpg,\"  [ 'x' ]  \"\n", ManifestFormat.DEFAULT);
        assertEquals(List.of(List.of("cat", "dog"), List.of("cat", "bird"), List.of("dog's toy", "say 'hi'"),
                List.of(), List.of("x")), s.items().stream().map(InputItem::labels).toList());

        InputSet j = scan("lists.jsonl", "{\"path\": \"a.jpg\", \"labels\": \"['cat', 'dog']\"}\n",
                ManifestFormat.DEFAULT);
        assertEquals(List.of("cat", "dog"), j.items().get(0).labels());

        assertError("bad-list.csv", "path,labels\na.jpg,ok\nb.jpg,\"[cat, dog]\"\n", ManifestFormat.DEFAULT,
                "bad-list.csv line 3: the labels cell [cat, dog] looks like a list but cannot be read (element "
                        + "starting with 'c' at character 2 is not a quoted string); write a list of quoted strings "
                        + "(['cat', 'dog'] or [\"cat\", \"dog\"]) or labels separated by --label-separator (cat|dog)");
        assertError("bad-list.csv", "path,labels\nb.jpg,\"['cat', 'dog'\"\n", ManifestFormat.DEFAULT,
                "bad-list.csv line 2: the labels cell ['cat', 'dog' looks like a list but cannot be read (the list "
                        + "is never closed); write a list of quoted strings (['cat', 'dog'] or [\"cat\", \"dog\"]) "
                        + "or labels separated by --label-separator (cat|dog)");
        InputException nested = assertThrows(InputException.class, () -> scan("nested.csv",
                "path,labels\na.jpg,\"[[\"\"cat\"\"]]\"\n", ManifestFormat.DEFAULT));
        assertTrue(nested.getMessage().contains("(it holds [\"cat\"], not a string)"), nested.getMessage());
    }

    @Test
    void oneHotLabelColumnsByNameOrPrefix() throws IOException {
        ManifestFormat byName = ManifestFormat.DEFAULT.withLabelColumns(List.of("cat", "dog", "bird"));
        InputSet s = scan("onehot.csv", "path,cat,dog,bird,split\n"
                + "a.jpg,1,0,1,train\n"
                + "b.jpg,0,0,0,val\n"
                + "c.jpg,true,yes,,train\n", byName);
        assertEquals(List.of(List.of("cat", "bird"), List.of(), List.of("cat", "dog")),
                s.items().stream().map(InputItem::labels).toList());
        assertEquals("val", s.items().get(1).split());

        ManifestFormat byPrefix = ManifestFormat.DEFAULT.withLabelColumns(List.of("attr_*"));
        InputSet p = scan("attrs.csv", "path,attr_smiling,attr_glasses,age\na.jpg,0,1,31\nb.jpg,1,1,22\n", byPrefix);
        assertEquals(List.of(List.of("glasses"), List.of("smiling", "glasses")),
                p.items().stream().map(InputItem::labels).toList());
        InputSet j = scan("attrs.jsonl", "{\"path\": \"a.jpg\", \"attr_smiling\": 1, \"attr_glasses\": false}\n",
                byPrefix);
        assertEquals(List.of("smiling"), j.items().get(0).labels());

        assertError("onehot.csv", "path,cat,dog,bird\na.jpg,1,0,maybe\n", byName, "onehot.csv line 2: one-hot label "
                + "column 'bird' holds 'maybe'; such a column holds 1 or 0 (also true/false, yes/no; empty means 0)");
        assertError("onehot.csv", "path,cat,dog\na.jpg,1,0\n", byName, "onehot.csv line 1: no column 'bird' "
                + "(--label-columns); the columns are: path, cat, dog");
        assertError("attrs.csv", "path,age\na.jpg,3\n", byPrefix, "attrs.csv line 1: no column starting with "
                + "'attr_' (--label-columns); the columns are: path, age");
    }

    @Test
    void csvQuotingFollowsRfc4180() throws IOException {
        // A multi-line quoted field, doubled quotes, CRLF; the error of a later record names its own line.
        InputSet s = scan("q.csv", "path,labels\r\n\"a\r\nb.jpg\",\"x \"\"y\"\"\"\r\nc.jpg,z\r\n",
                ManifestFormat.DEFAULT);
        assertEquals(List.of("a\r\nb.jpg", "c.jpg"), paths(s));
        assertEquals(List.of("x \"y\""), s.items().get(0).labels());
        assertEquals("q.csv line 4", s.items().get(1).origin());
        assertError("q.csv", "path,labels\n\"a\nb.jpg\",x\nc.jpg\n", ManifestFormat.DEFAULT,
                "q.csv line 4: 1 fields, the header has 2 (quote fields that contain commas)");
    }

    @Test
    void missingOrUnusableInputIsNamed() throws IOException {
        Path missing = tmp.resolve("nope");
        InputException e = assertThrows(InputException.class, () -> InputScanner.scan(missing, List.of(), List.of()));
        assertEquals("input " + missing + " does not exist; give an image folder or a .csv / .jsonl manifest",
                e.getMessage());
        Path txt = touch("readme.txt");
        e = assertThrows(InputException.class, () -> InputScanner.scan(txt, List.of(), List.of()));
        assertTrue(e.getMessage().contains("is a file but not a manifest"), e.getMessage());
        Files.createDirectories(tmp.resolve("empty"));
        e = assertThrows(InputException.class, () -> InputScanner.scan(tmp.resolve("empty"), List.of(), List.of()));
        assertTrue(e.getMessage().contains("no images in " + tmp.resolve("empty") + " (looked for files ending in"),
                e.getMessage());
    }

    private void assertError(String name, String content, String expected) throws IOException {
        Path m = tmp.resolve(name);
        Files.writeString(m, content);
        InputException e = assertThrows(InputException.class, () -> InputScanner.scan(m, List.of(), List.of()));
        assertTrue(e.getMessage().startsWith(expected), "expected '" + expected + "', got: " + e.getMessage());
    }
}
