package org.vitfit.extract;

import org.vitfit.io.Durable;
import org.vitfit.preprocess.ImageDecodeException;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.preprocess.PreprocessRecipe;
import org.vitfit.preprocess.Preprocessor;

import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Locale;

/**
 * The decode + preprocess stage: encoded bytes in, the model's {@code pixel_values} for one image out; with
 * {@link #read} and {@link #prepareOrFail}, every way one image can fail classified as an {@link ImageFailure}, the
 * same for {@code vitfit extract} and {@code vitfit predict}.
 */
public final class ImagePreparer {

    private final ImageDecoder decoder;
    private final Preprocessor preprocessor;

    /** @param maxPixels images whose header claims more pixels are refused before any pixel is allocated */
    public ImagePreparer(PreprocessRecipe recipe, long maxPixels) {
        this.decoder = new ImageDecoder(recipe.applyExifOrientation(), maxPixels);
        this.preprocessor = new Preprocessor(recipe);
    }

    public int floatsPerImage() {
        return preprocessor.floatsPerImage();
    }

    /** Thread-safe: decoder and preprocessor are stateless, each call writes only its own slice of {@code dst}. */
    public void prepare(byte[] encoded, String source, FloatBuffer dst, int offsetFloats) throws ImageDecodeException {
        preprocessor.apply(decoder.decode(encoded, source), dst, offsetFloats);
    }

    /**
     * {@link #prepare}, with every failure classified: the decoder's reason, {@code corrupt} when a third-party
     * decoder throws an unchecked exception on a hostile file, {@code out_of_memory} for a decoded image too large.
     */
    public void prepareOrFail(byte[] encoded, String source, FloatBuffer dst, int offsetFloats) throws ImageFailure {
        try {
            prepare(encoded, source, dst, offsetFloats);
        } catch (ImageDecodeException e) {
            throw new ImageFailure(e.reason().name().toLowerCase(Locale.ROOT), e.getMessage());
        } catch (RuntimeException e) {
            // Third-party decoders throw unchecked exceptions on hostile files; that image fails, not the run.
            throw new ImageFailure("corrupt", source + ": decoder error: " + e);
        } catch (OutOfMemoryError e) {
            // Preprocessing a huge decoded image; the decoder itself reports its own out_of_memory.
            throw new ImageFailure("out_of_memory", source + ": the decoded image does not fit in the memory left "
                    + "to Java; give it more (VITFIT_JAVA_OPTS=-Xmx16g) or use fewer --threads");
        }
    }

    /**
     * Reads a listed image whole: {@code missing}, {@code broken_link}, {@code unreadable} (an I/O error, no permission,
     * a directory or a named pipe, a file over the 2 GiB an array holds) and {@code out_of_memory} are failures. Any
     * failure here means the file's bytes were not read, so nothing is known about its content now.
     */
    public static byte[] read(InputItem item) throws ImageFailure {
        long size = -1;
        try {
            BasicFileAttributes attributes = Files.readAttributes(item.file(), BasicFileAttributes.class);
            if (attributes.isDirectory()) {
                throw new ImageFailure("unreadable", item.file() + " is a directory, not an image file");
            }
            if (!attributes.isRegularFile()) {
                // Opening a named pipe blocks until something writes to it, and a device may never end.
                throw new ImageFailure("unreadable", item.file() + " is not a regular file (a named pipe, socket or "
                        + "device); vitfit reads images only from regular files");
            }
            size = attributes.size();
            if (size > Integer.MAX_VALUE - 8) {
                throw new ImageFailure("unreadable", item.file() + ": " + size + " bytes, larger than the 2 GiB an "
                        + "image may have");
            }
            return Files.readAllBytes(item.file());
        } catch (NoSuchFileException e) {
            if (Files.isSymbolicLink(item.file())) {
                throw new ImageFailure("broken_link", item.file() + " is a symbolic link to "
                        + linkTarget(item.file()) + ", which does not exist; fix or remove the link");
            }
            throw new ImageFailure("missing", item.file() + " does not exist (listed in " + item.origin() + ")");
        } catch (IOException e) {
            throw new ImageFailure("unreadable", item.file() + ": cannot read: " + Durable.describe(e));
        } catch (OutOfMemoryError e) {
            throw new ImageFailure("out_of_memory", item.file() + ": " + size + " bytes do not fit in the memory "
                    + "left to Java; give it more (VITFIT_JAVA_OPTS=-Xmx16g) or use fewer --threads");
        }
    }

    private static String linkTarget(Path link) {
        try {
            return Files.readSymbolicLink(link).toString();
        } catch (IOException e) {
            return "a path that cannot be read";
        }
    }
}
