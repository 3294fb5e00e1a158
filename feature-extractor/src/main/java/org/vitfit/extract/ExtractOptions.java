package org.vitfit.extract;

import org.vitfit.cache.VectorDtype;
import org.vitfit.onnx.Device;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.runtime.OptionBounds;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * Settings of one extraction run; build with {@link #builder}.
 *
 * @param modelDir       a converted model directory ({@code vitfit-model.json} + {@code model.onnx})
 * @param input          image folder, or CSV / JSONL manifest
 * @param output         cache directory (created, or extended incrementally)
 * @param batchSize      images per inference call
 * @param threads        decode + preprocess worker threads
 * @param ortThreads     ONNX Runtime intra-op threads; 0 lets it use every core
 * @param device         where to run the model
 * @param limit          embed at most this many images of the listing (0: all); the rest are kept, not deleted
 * @param prune          mark rows whose path the listing does not name as deleted; without it they stay live
 * @param manifest       which columns of a CSV / JSONL manifest hold path, labels and split
 * @param dtype          vector storage; null keeps an existing cache's dtype (f32 for a new cache)
 * @param strict         callers should fail the run when any image could not be embedded
 * @param include        globs an image must match one of (all when empty)
 * @param exclude        globs an image must match none of
 * @param maxPixels      refuse images whose header claims more pixels (decompression bombs)
 * @param commitInterval milliseconds between commits; a crash loses at most this much work
 */
public record ExtractOptions(Path modelDir, Path input, Path output, int batchSize, int threads, int ortThreads,
                             Device device, long limit, boolean prune, VectorDtype dtype, boolean strict,
                             List<String> include, List<String> exclude, ManifestFormat manifest, long maxPixels,
                             long commitInterval) {

    public ExtractOptions {
        Objects.requireNonNull(modelDir, "modelDir");
        Objects.requireNonNull(input, "input");
        Objects.requireNonNull(output, "output");
        Objects.requireNonNull(device, "device");
        manifest = manifest == null ? ManifestFormat.DEFAULT : manifest;
        include = List.copyOf(include);
        exclude = List.copyOf(exclude);
        OptionBounds.batchSize(batchSize);
        OptionBounds.decodeThreads(threads);
        if (ortThreads < 0) {
            throw new IllegalArgumentException("ONNX Runtime threads must be >= 0, got " + ortThreads);
        }
        if (limit < 0) {
            throw new IllegalArgumentException("--limit must be >= 0, got " + limit);
        }
        if (maxPixels < 1) {
            throw new IllegalArgumentException("--max-pixels must be >= 1, got " + maxPixels);
        }
        if (commitInterval < 0) {
            throw new IllegalArgumentException("commit interval must be >= 0 ms, got " + commitInterval);
        }
    }

    public static Builder builder(Path modelDir, Path input, Path output) {
        return new Builder(modelDir, input, output);
    }

    /**
     * Defaults: batch 8 on CPU and 32 on CUDA, one decode thread per core, ONNX Runtime on every core, CPU, f32,
     * PIL's pixel limit. (On CPU, ViT-Tiny ran as fast or faster at batch 8 than at 32; see benchmarks/README.md.)
     */
    public static final class Builder {
        private final Path modelDir;
        private final Path input;
        private final Path output;
        private Integer batchSize;
        private int threads = Math.min(Runtime.getRuntime().availableProcessors(), OptionBounds.MAX_THREADS);
        private int ortThreads;
        private Device device = Device.CPU;
        private long limit;
        private boolean prune;
        private ManifestFormat manifest = ManifestFormat.DEFAULT;
        private VectorDtype dtype;
        private boolean strict;
        private List<String> include = List.of();
        private List<String> exclude = List.of();
        private long maxPixels = ImageDecoder.DEFAULT_MAX_PIXELS;
        private long commitInterval = 2000;

        private Builder(Path modelDir, Path input, Path output) {
            this.modelDir = modelDir;
            this.input = input;
            this.output = output;
        }

        public Builder batchSize(int v) {
            batchSize = v;
            return this;
        }

        public Builder threads(int v) {
            threads = v;
            return this;
        }

        public Builder ortThreads(int v) {
            ortThreads = v;
            return this;
        }

        public Builder device(Device v) {
            device = v;
            return this;
        }

        public Builder limit(long v) {
            limit = v;
            return this;
        }

        public Builder prune(boolean v) {
            prune = v;
            return this;
        }

        public Builder manifest(ManifestFormat v) {
            manifest = v;
            return this;
        }

        public Builder dtype(VectorDtype v) {
            dtype = v;
            return this;
        }

        public Builder strict(boolean v) {
            strict = v;
            return this;
        }

        public Builder include(List<String> v) {
            include = v;
            return this;
        }

        public Builder exclude(List<String> v) {
            exclude = v;
            return this;
        }

        public Builder maxPixels(long v) {
            maxPixels = v;
            return this;
        }

        public Builder commitInterval(long millis) {
            commitInterval = millis;
            return this;
        }

        public ExtractOptions build() {
            int batch = batchSize != null ? batchSize : device.kind() == Device.Kind.CUDA ? 32 : 8;
            return new ExtractOptions(modelDir, input, output, batch, threads, ortThreads, device, limit, prune, dtype,
                    strict, include, exclude, manifest, maxPixels, commitInterval);
        }
    }
}
