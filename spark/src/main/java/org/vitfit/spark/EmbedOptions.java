package org.vitfit.spark;

import org.vitfit.onnx.Device;
import org.vitfit.preprocess.ImageDecoder;

import java.io.Serializable;

/**
 * How {@link VitfitSpark#embed} runs on each executor.
 *
 * @param batchSize      images per ONNX Runtime call inside one partition
 * @param device         {@code cpu}, {@code cuda} or {@code cuda:N}; an executor without CUDA falls back to CPU
 *                       with one warning line in its log
 * @param intraOpThreads ONNX Runtime threads per operator in the executor's one session; 0 lets it choose
 * @param maxPixels      images whose header claims more pixels become error rows (decompression bombs)
 * @param keepContent    keep the {@code content} column (the encoded image bytes) in the result; off by default
 *                       so the embeddings table does not carry the images
 */
public record EmbedOptions(int batchSize, String device, int intraOpThreads, long maxPixels, boolean keepContent)
        implements Serializable {

    public EmbedOptions {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        }
        Device.parse(device);
        if (intraOpThreads < 0) {
            throw new IllegalArgumentException("intra-op threads must be >= 0 (0 = ONNX Runtime's choice), got "
                    + intraOpThreads);
        }
        if (maxPixels < 1) {
            throw new IllegalArgumentException("max pixels must be >= 1, got " + maxPixels);
        }
    }

    /** Batches of 32 on CPU, ONNX Runtime's thread choice, PIL's pixel limit, no content column. */
    public static EmbedOptions defaults() {
        return new EmbedOptions(32, "cpu", 0, ImageDecoder.DEFAULT_MAX_PIXELS, false);
    }

    public EmbedOptions withBatchSize(int n) {
        return new EmbedOptions(n, device, intraOpThreads, maxPixels, keepContent);
    }

    public EmbedOptions withDevice(String d) {
        return new EmbedOptions(batchSize, d, intraOpThreads, maxPixels, keepContent);
    }

    public EmbedOptions withIntraOpThreads(int n) {
        return new EmbedOptions(batchSize, device, n, maxPixels, keepContent);
    }

    public EmbedOptions withMaxPixels(long n) {
        return new EmbedOptions(batchSize, device, intraOpThreads, n, keepContent);
    }

    public EmbedOptions withKeepContent(boolean keep) {
        return new EmbedOptions(batchSize, device, intraOpThreads, maxPixels, keep);
    }
}
