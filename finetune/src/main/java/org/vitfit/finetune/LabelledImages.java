package org.vitfit.finetune;

import org.vitfit.extract.InputItem;
import org.vitfit.extract.InputScanner;
import org.vitfit.extract.InputSet;
import org.vitfit.heads.LabelledRows;
import org.vitfit.preprocess.ImageDecodeException;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.runtime.Hashing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;
import java.util.stream.IntStream;

/**
 * The images of a fine-tuning input (folder or manifest, read by the extractor's {@link InputScanner}), each read,
 * hashed (sha256, the extractor's content identity) and decoded once before training starts. An image that cannot
 * be read or decoded is left out and reported with the extractor's reasons ({@code missing}, {@code corrupt},
 * {@code truncated}, ...) instead of failing an epoch halfway; the hashes make the run's fingerprint cover the
 * content, so a resumed run notices replaced photos.
 */
final class LabelledImages implements LabelledRows {

    /** One usable image. */
    record Image(Path file, String path, String sha256, long size, List<String> labels, String split) {
    }

    /** An image left out, with the extractor's reason code. */
    record Skipped(String path, String reason, String message) {
    }

    private final String source;
    private final List<Image> images;
    private final List<Skipped> skipped;
    private final List<String> classes;

    private LabelledImages(String source, List<Image> images, List<Skipped> skipped, List<String> classes) {
        this.source = source;
        this.images = List.copyOf(images);
        this.skipped = List.copyOf(skipped);
        this.classes = List.copyOf(classes);
    }

    static LabelledImages scan(Path input, boolean multiLabel, ImageDecoder decoder) throws IOException {
        InputSet set = InputScanner.scan(input, List.of(), List.of());
        List<InputItem> items = set.items();
        Object[] results = new Object[items.size()];
        IntStream.range(0, items.size()).parallel().forEach(i -> results[i] = check(items.get(i), decoder));
        List<Image> images = new ArrayList<>();
        List<Skipped> skipped = new ArrayList<>();
        for (Object r : results) {
            if (r instanceof Image img) {
                images.add(img);
            } else {
                skipped.add((Skipped) r);
            }
        }
        TreeSet<String> all = new TreeSet<>();
        for (Image img : images) {
            if (img.labels().isEmpty()) {
                throw new IllegalArgumentException(img.path() + " (in " + input + ") has no label; fine-tuning needs "
                        + "labelled images: one sub-folder per class, or a manifest with a labels column");
            }
            if (!multiLabel && img.labels().size() != 1) {
                throw new IllegalArgumentException(img.path() + " (in " + input + ") has " + img.labels().size()
                        + " labels " + img.labels() + "; multi-class fine-tuning needs exactly one per image (pass "
                        + "--multilabel for several)");
            }
            all.addAll(img.labels());
        }
        if (all.size() < 2) {
            throw new IllegalArgumentException(input + " names " + all.size() + " class(es) among its " + images.size()
                    + " readable images; fine-tuning needs at least 2");
        }
        return new LabelledImages(input.toString(), images, skipped, new ArrayList<>(all));
    }

    /** Reads, hashes and decodes one image; returns an {@link Image} or a {@link Skipped}. */
    private static Object check(InputItem item, ImageDecoder decoder) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(item.file());
        } catch (NoSuchFileException e) {
            return new Skipped(item.path(), "missing", item.file() + " does not exist (listed in " + item.origin() + ")");
        } catch (IOException e) {
            return new Skipped(item.path(), "unreadable", item.file() + ": " + e.getMessage());
        }
        try {
            decoder.decode(bytes, item.file().toString());
        } catch (ImageDecodeException e) {
            return new Skipped(item.path(), e.reason().name().toLowerCase(Locale.ROOT), e.getMessage());
        } catch (OutOfMemoryError e) {
            return new Skipped(item.path(), "too_many_pixels", item.file() + " does not fit in memory when decoded; "
                    + "shrink it or give Java more heap (-Xmx)");
        }
        return new Image(item.file(), item.path(), Hashing.sha256(bytes), bytes.length, item.labels(), item.split());
    }

    List<Image> images() {
        return images;
    }

    Image image(int row) {
        return images.get(row);
    }

    List<Skipped> skipped() {
        return skipped;
    }

    /** Class names, sorted: the order of the classifier's outputs. */
    List<String> classes() {
        return classes;
    }

    /** The 0/1 target row of an image over {@link #classes()}. */
    float[] target(int row) {
        float[] t = new float[classes.size()];
        for (String l : images.get(row).labels()) {
            t[classes.indexOf(l)] = 1f;
        }
        return t;
    }

    @Override
    public int size() {
        return images.size();
    }

    @Override
    public List<String> labels(int row) {
        return images.get(row).labels();
    }

    @Override
    public String split(int row) {
        return images.get(row).split();
    }

    @Override
    public boolean hasSplitColumn() {
        for (Image img : images) {
            if (img.split() != null) {
                return true;
            }
        }
        return false;
    }

    @Override
    public String source() {
        return source;
    }

    @Override
    public String describeRow(int row) {
        return images.get(row).path();
    }
}
