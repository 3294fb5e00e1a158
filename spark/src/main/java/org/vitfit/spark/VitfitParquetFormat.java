package org.vitfit.spark;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.mapreduce.Job;
import org.apache.parquet.hadoop.ParquetOutputFormat;
import org.apache.parquet.hadoop.api.WriteSupport;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.execution.datasources.OutputWriterFactory;
import org.apache.spark.sql.execution.datasources.parquet.ParquetFileFormat;
import org.apache.spark.sql.execution.datasources.parquet.ParquetWriteSupport;
import org.apache.spark.sql.types.StructType;

import java.util.HashMap;
import java.util.Map;

/**
 * Spark's Parquet source, plus vitfit's key/value entries in every file footer. Spark's own writer offers no way to
 * add footer metadata, so this format swaps in a write support that appends the {@code vitfit.*} write options to
 * what Spark writes; the files are plain Parquet that {@code spark.read().parquet(...)} reads as usual. Everything
 * else (schema, commit protocol, compression) is Spark's.
 */
public class VitfitParquetFormat extends ParquetFileFormat {

    private static final long serialVersionUID = 1L;

    @Override
    public OutputWriterFactory prepareWrite(SparkSession session, Job job,
                                            scala.collection.immutable.Map<String, String> options,
                                            StructType dataSchema) {
        OutputWriterFactory factory = super.prepareWrite(session, job, options, dataSchema);
        Configuration conf = job.getConfiguration();
        for (String key : ParquetMetadataKeys.IDENTITY_KEYS) {
            String value = options.get(key).getOrElse(() -> null);
            if (value == null) {
                throw new IllegalArgumentException("write option " + key + " is missing; write embeddings with "
                        + "VitfitSpark.writeParquet");
            }
            conf.set(key, value);
        }
        conf.set(ParquetMetadataKeys.FORMAT, ParquetMetadataKeys.FORMAT_VALUE);
        ParquetOutputFormat.setWriteSupportClass(job, FooterWriteSupport.class);
        return factory;
    }

    @Override
    public String shortName() {
        return "vitfit-parquet";
    }

    /** Spark's write support with the vitfit entries added to the footer's key/value metadata. */
    public static class FooterWriteSupport extends ParquetWriteSupport {
        @Override
        public WriteSupport.WriteContext init(Configuration conf) {
            WriteSupport.WriteContext spark = super.init(conf);
            Map<String, String> extra = new HashMap<>(spark.getExtraMetaData());
            extra.put(ParquetMetadataKeys.FORMAT, conf.get(ParquetMetadataKeys.FORMAT));
            for (String key : ParquetMetadataKeys.IDENTITY_KEYS) {
                extra.put(key, conf.get(key));
            }
            return new WriteSupport.WriteContext(spark.getSchema(), extra);
        }
    }
}
