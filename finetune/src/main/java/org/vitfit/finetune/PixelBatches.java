package org.vitfit.finetune;

import org.vitfit.preprocess.ImageDecodeException;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.preprocess.Preprocessor;
import org.vitfit.runtime.Hashing;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.util.Random;
import java.util.stream.IntStream;

/**
 * Turns rows of {@link LabelledImages} into the model's {@code pixel_values}: read, check the bytes are still the
 * ones scanned (sha256), decode, optionally augment ({@link RandomCropFlip}, seeded per image so a resumed run draws
 * the same crops), and preprocess with the model's own recipe, in parallel, into a direct buffer ONNX Runtime reads
 * in place.
 */
final class PixelBatches {

    private final LabelledImages data;
    private final ImageDecoder decoder;
    private final Preprocessor preprocessor;
    private final RandomCropFlip augmentation;

    /** @param augmentation null for none (validation, test, cached prefix tokens) */
    PixelBatches(LabelledImages data, ImageDecoder decoder, Preprocessor preprocessor, RandomCropFlip augmentation) {
        this.data = data;
        this.decoder = decoder;
        this.preprocessor = preprocessor;
        this.augmentation = augmentation;
    }

    /** Whether images are augmented (and so differ from epoch to epoch). */
    boolean augments() {
        return augmentation != null;
    }

    int floatsPerImage() {
        return preprocessor.floatsPerImage();
    }

    long[] shape(int n) {
        return new long[] {n, 3, preprocessor.outputHeight(), preprocessor.outputWidth()};
    }

    /**
     * Fills {@code dst} with the images {@code rows}; image {@code i} of the batch is augmented with a generator
     * seeded by {@code seed} and {@code position + i}, its place in the epoch.
     */
    void fill(int[] rows, FloatBuffer dst, long seed, int position) {
        fill(rows, dst, seed, position, true);
    }

    /** @param parallel on the common pool; false on the calling thread (a loader overlapping a training step) */
    void fill(int[] rows, FloatBuffer dst, long seed, int position, boolean parallel) {
        int per = preprocessor.floatsPerImage();
        IntStream indices = IntStream.range(0, rows.length);
        (parallel ? indices.parallel() : indices).forEach(i -> {
            BufferedImage img = decode(rows[i]);
            if (augmentation != null) {
                img = augmentation.apply(img, new Random(seed + 31L * (position + i)));
            }
            preprocessor.apply(img, dst.duplicate(), i * per);
        });
    }

    private BufferedImage decode(int row) {
        LabelledImages.Image image = data.image(row);
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(image.file());
        } catch (IOException e) {
            throw new UncheckedIOException(image.file() + " could not be read during fine-tuning (" + e.getMessage()
                    + "); restore it and re-run the same command to resume", e);
        }
        if (!Hashing.sha256(bytes).equals(image.sha256())) {
            throw new IllegalStateException(image.file() + " changed while fine-tuning ran; restore it, or delete the "
                    + "fine-tuning checkpoint to start over with the new data");
        }
        try {
            return decoder.decode(bytes, image.file().toString());
        } catch (ImageDecodeException e) {
            throw new IllegalStateException(e.getMessage(), e); // decoded fine when scanned: the bytes are the same
        }
    }
}
