package org.vitfit.extract;

import org.vitfit.preprocess.ImageDecodeException;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.preprocess.PreprocessRecipe;
import org.vitfit.preprocess.Preprocessor;

import java.nio.FloatBuffer;

/** The decode + preprocess stage: encoded bytes in, the model's {@code pixel_values} for one image out. */
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
}
