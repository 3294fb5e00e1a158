package org.vitfit.spark;

import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Key/value metadata in the footer of every Parquet file of embeddings: what makes the vectors comparable, the same
 * identity the single-machine cache keeps in {@code header.json}.
 */
public final class ParquetMetadataKeys {

    /** Always {@value #FORMAT_VALUE}. */
    public static final String FORMAT = "vitfit.format";
    public static final String FORMAT_VALUE = "vitfit-embeddings/1";
    /** sha256 of the {@code model.onnx} that produced every vector. */
    public static final String MODEL_SHA256 = "vitfit.model.sha256";
    /** Where that model came from (informational). */
    public static final String MODEL_SOURCE = "vitfit.model.source";
    /** The preprocessing recipe as JSON ({@code PreprocessRecipe}). */
    public static final String PREPROCESSING = "vitfit.preprocessing";
    /** Floats per vector. */
    public static final String DIMENSION = "vitfit.embedding.dimension";

    static final List<String> IDENTITY_KEYS = List.of(MODEL_SHA256, MODEL_SOURCE, PREPROCESSING, DIMENSION);

    private ParquetMetadataKeys() {
    }

    /** The footer entries for a frame from {@link VitfitSpark#embed}, read from its {@code embedding} column. */
    static Map<String, String> identityOf(StructType schema) {
        List<String> names = List.of(schema.fieldNames());
        if (!names.contains(VitfitSpark.EMBEDDING)) {
            throw new IllegalArgumentException("no 'embedding' column in " + names + "; write the result of "
                    + "VitfitSpark.embed");
        }
        StructField field = schema.apply(VitfitSpark.EMBEDDING);
        Metadata m = field.metadata();
        Map<String, String> out = new LinkedHashMap<>();
        out.put(FORMAT, FORMAT_VALUE);
        for (String key : IDENTITY_KEYS) {
            if (!m.contains(key)) {
                throw new IllegalArgumentException("the 'embedding' column carries no " + key + "; write the result "
                        + "of VitfitSpark.embed (column metadata is lost by some transformations: re-attach it or "
                        + "embed again)");
            }
            out.put(key, key.equals(DIMENSION) ? Long.toString(m.getLong(key)) : m.getString(key));
        }
        return out;
    }
}
