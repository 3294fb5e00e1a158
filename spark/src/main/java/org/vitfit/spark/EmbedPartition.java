package org.vitfit.spark;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.vitfit.extract.ImagePreparer;
import org.vitfit.preprocess.ImageDecodeException;
import org.vitfit.runtime.Hashing;
import org.vitfit.runtime.ModelDescriptor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;

/**
 * Embeds one partition: rows are pulled lazily in batches, decoded and preprocessed by the extractor's
 * {@link ImagePreparer} into one direct buffer, run through the executor's shared session, and emitted with their
 * embedding or their error. Memory per task is one batch of pixels, whatever the partition size.
 */
final class EmbedPartition implements MapPartitionsFunction<Row, Row> {

    private static final long serialVersionUID = 1L;

    private final ExecutorModels.Key model;
    private final int batchSize;
    private final long maxPixels;
    private final int contentIndex;
    private final int pathIndex;
    private final int[] keptIndexes;

    EmbedPartition(ExecutorModels.Key model, int batchSize, long maxPixels, int contentIndex, int pathIndex,
                   int[] keptIndexes) {
        this.model = model;
        this.batchSize = batchSize;
        this.maxPixels = maxPixels;
        this.contentIndex = contentIndex;
        this.pathIndex = pathIndex;
        this.keptIndexes = keptIndexes;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> input) {
        ExecutorModels.Loaded loaded = ExecutorModels.get(model);
        return new Batches(input, loaded);
    }

    private final class Batches implements Iterator<Row> {
        private final Iterator<Row> input;
        private final ExecutorModels.Loaded loaded;
        private final ModelDescriptor descriptor;
        private final ImagePreparer preparer;
        private final FloatBuffer pixels;
        private final int floatsPerImage;
        private final ArrayDeque<Row> ready = new ArrayDeque<>();
        private final Row[] batchRows;
        private final int[] slotOf;
        private final String[] errors;
        private final String[] shas;
        private final long[] sizes;
        private Configuration hadoopConf;

        Batches(Iterator<Row> input, ExecutorModels.Loaded loaded) {
            this.input = input;
            this.loaded = loaded;
            this.descriptor = loaded.descriptor();
            this.preparer = new ImagePreparer(descriptor.preprocessing(), maxPixels);
            this.floatsPerImage = preparer.floatsPerImage();
            this.pixels = ByteBuffer.allocateDirect(batchSize * floatsPerImage * Float.BYTES)
                    .order(ByteOrder.nativeOrder()).asFloatBuffer();
            this.batchRows = new Row[batchSize];
            this.slotOf = new int[batchSize];
            this.errors = new String[batchSize];
            this.shas = new String[batchSize];
            this.sizes = new long[batchSize];
        }

        @Override
        public boolean hasNext() {
            if (ready.isEmpty() && input.hasNext()) {
                nextBatch();
            }
            return !ready.isEmpty();
        }

        @Override
        public Row next() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            return ready.poll();
        }

        private void nextBatch() {
            int n = 0;
            int images = 0;
            while (n < batchSize && input.hasNext()) {
                Row row = input.next();
                batchRows[n] = row;
                errors[n] = null;
                slotOf[n] = -1;
                shas[n] = null;
                sizes[n] = -1;
                String source = source(row);
                try {
                    byte[] bytes = bytes(row, source);
                    shas[n] = Hashing.sha256(bytes);
                    sizes[n] = bytes.length;
                    preparer.prepare(bytes, source, pixels, images * floatsPerImage);
                    slotOf[n] = images++;
                } catch (ImageDecodeException e) {
                    errors[n] = e.reason() + ": " + e.getMessage();
                } catch (RuntimeException e) {
                    // A decoder bug on one odd file must not fail the job; the row says what happened.
                    errors[n] = "CORRUPT: " + source + ": " + e;
                }
                n++;
            }
            float[] embeddings = images == 0 ? new float[0] : run(images);
            int d = descriptor.embeddingDim();
            for (int i = 0; i < n; i++) {
                float[] vector = null;
                if (slotOf[i] >= 0) {
                    vector = new float[d];
                    System.arraycopy(embeddings, slotOf[i] * d, vector, 0, d);
                }
                ready.add(output(batchRows[i], shas[i], sizes[i], vector, errors[i]));
                batchRows[i] = null;
            }
        }

        private float[] run(int images) {
            FloatBuffer view = pixels.duplicate();
            view.position(0).limit(images * floatsPerImage);
            long[] shape = {images, 3, descriptor.imageHeight(), descriptor.imageWidth()};
            try (OnnxTensor tensor = OnnxTensor.createTensor(OrtEnvironment.getEnvironment(), view, shape);
                 OrtSession.Result result = loaded.session().session().run(Map.of(VitfitSpark.ONNX_INPUT, tensor),
                         Set.of(VitfitSpark.EMBEDDING))) {
                OnnxValue value = result.get(VitfitSpark.EMBEDDING).orElseThrow();
                FloatBuffer out = ((OnnxTensor) value).getFloatBuffer();
                float[] all = new float[out.remaining()];
                out.get(all);
                if (all.length != images * descriptor.embeddingDim()) {
                    throw new IllegalStateException("model returned " + all.length + " values for " + images
                            + " images of dimension " + descriptor.embeddingDim());
                }
                return all;
            } catch (OrtException e) {
                throw new IllegalStateException("ONNX Runtime failed on a batch of " + images + " images of "
                        + model.modelDir() + ": " + e.getMessage(), e);
            }
        }

        private String source(Row row) {
            if (pathIndex >= 0 && !row.isNullAt(pathIndex)) {
                return row.getString(pathIndex);
            }
            return "(row without path)";
        }

        private byte[] bytes(Row row, String source) throws ImageDecodeException {
            if (contentIndex >= 0) {
                if (row.isNullAt(contentIndex)) {
                    throw new ImageDecodeException(ImageDecodeException.Reason.UNREADABLE, source, "content is null");
                }
                return (byte[]) row.get(contentIndex);
            }
            if (row.isNullAt(pathIndex)) {
                throw new ImageDecodeException(ImageDecodeException.Reason.UNREADABLE, source, "path is null");
            }
            return read(source);
        }

        /** Reads a path through Hadoop's file systems, so {@code hdfs://}, {@code s3a://} and local paths all work. */
        private byte[] read(String path) throws ImageDecodeException {
            try {
                if (hadoopConf == null) {
                    hadoopConf = new Configuration();
                }
                org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(path);
                FileSystem fs = p.getFileSystem(hadoopConf);
                long length = fs.getFileStatus(p).getLen();
                if (length > Integer.MAX_VALUE - 8) {
                    throw new ImageDecodeException(ImageDecodeException.Reason.UNREADABLE, path,
                            "file is larger than 2 GiB");
                }
                byte[] bytes = new byte[(int) length];
                try (FSDataInputStream in = fs.open(p)) {
                    in.readFully(0, bytes);
                }
                return bytes;
            } catch (java.io.FileNotFoundException e) {
                throw new ImageDecodeException(ImageDecodeException.Reason.UNREADABLE, path, "no such file", e);
            } catch (IOException e) {
                throw new ImageDecodeException(ImageDecodeException.Reason.UNREADABLE, path,
                        "cannot read the file: " + e, e);
            }
        }

        private Row output(Row in, String sha256, long size, float[] embedding, String error) {
            int k = keptIndexes.length;
            Object[] values = new Object[k + 4];
            for (int i = 0; i < k; i++) {
                values[i] = in.get(keptIndexes[i]);
            }
            values[k] = sha256;
            values[k + 1] = size < 0 ? null : size;
            values[k + 2] = embedding;
            values[k + 3] = error;
            return RowFactory.create(values);
        }
    }
}
