package org.vitfit.preprocess;

import com.fasterxml.jackson.annotation.JsonInclude;

import java.util.List;

/**
 * Everything needed to turn a decoded image into the model's {@code pixel_values}, stored in
 * {@code vitfit-model.json}. It mirrors what timm's eval transform and the Hugging Face image
 * processors do: resize (PIL resampling on 8-bit RGB), center crop, rescale, normalise.
 *
 * @param resizeMode       {@code shortest_edge} (scale so the shorter side is {@code resizeShortestEdge},
 *                         the longer side truncated like torchvision and transformers do), {@code fixed}
 *                         (resize to exactly {@code resizeHeight x resizeWidth}) or {@code none}
 * @param resizeShortestEdge target of the shorter side for {@code shortest_edge}
 * @param resizeHeight     target height for {@code fixed}
 * @param resizeWidth      target width for {@code fixed}
 * @param interpolation    {@code bicubic}, {@code bilinear} or {@code nearest}, with Pillow's kernels and
 *                         Pillow's antialiasing when downscaling
 * @param cropHeight       center-crop height, or 0 for no crop
 * @param cropWidth        center-crop width, or 0 for no crop
 * @param cropRounding     where an odd margin puts the extra pixel: {@code round} (torchvision:
 *                         {@code round((h - ch) / 2)}, half to even) or {@code floor} (transformers: {@code (h - ch) // 2})
 * @param rescaleFactor    multiplies the 8-bit values (normally 1/255)
 * @param mean             per-channel mean subtracted after rescaling (RGB order)
 * @param std              per-channel standard deviation divided by after subtracting the mean
 * @param applyExifOrientation rotate/flip JPEGs by their EXIF orientation tag before anything else;
 *                         timm and transformers do not, so converted models default to {@code false}
 *                         to reproduce their numbers
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record PreprocessRecipe(
        String resizeMode,
        int resizeShortestEdge,
        int resizeHeight,
        int resizeWidth,
        String interpolation,
        int cropHeight,
        int cropWidth,
        String cropRounding,
        double rescaleFactor,
        List<Double> mean,
        List<Double> std,
        boolean applyExifOrientation) {

    /** Height of the tensor the model receives. */
    public int outputHeight() {
        return cropHeight > 0 ? cropHeight : resizeHeight;
    }

    /** Width of the tensor the model receives. */
    public int outputWidth() {
        return cropWidth > 0 ? cropWidth : resizeWidth;
    }
}
