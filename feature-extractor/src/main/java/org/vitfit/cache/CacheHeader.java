package org.vitfit.cache;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import org.vitfit.preprocess.PreprocessRecipe;

/**
 * The contents of {@code header.json}: what the cache holds and, as its commit point, how many bytes of each
 * data file are committed. Replaced atomically on every commit.
 *
 * @param format         always {@value #FORMAT}
 * @param formatVersion  bumped on incompatible changes
 * @param cacheId        random id also written into the vectors file header, so files of two caches cannot be mixed
 * @param modelSha256    sha256 of the {@code model.onnx} that produced every vector
 * @param modelSource    where that model came from (informational)
 * @param preprocessing  the recipe every image went through
 * @param dimension      floats per vector
 * @param dtype          {@code f32} or {@code f16}
 * @param count          live rows (deleted and replaced rows excluded)
 * @param rows           committed rows in the vectors and index files, dead ones included
 * @param deletedRows    committed lines of the deletions file (one per dead row)
 * @param epoch          which generation of data files is current; compaction writes a new epoch
 * @param generation     commit counter
 * @param indexBytes     committed length of the index file
 * @param deletionsBytes committed length of the deletions file
 * @param toolVersion    vitfit version of the last writer
 * @param updated        time of the last commit (ISO-8601, UTC)
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonPropertyOrder({"format", "formatVersion", "cacheId", "modelSha256", "modelSource", "preprocessing", "dimension",
        "dtype", "count", "rows", "deletedRows", "epoch", "generation", "indexBytes", "deletionsBytes", "toolVersion",
        "updated"})
public record CacheHeader(
        String format,
        int formatVersion,
        String cacheId,
        String modelSha256,
        String modelSource,
        PreprocessRecipe preprocessing,
        int dimension,
        String dtype,
        long count,
        long rows,
        long deletedRows,
        int epoch,
        long generation,
        long indexBytes,
        long deletionsBytes,
        String toolVersion,
        String updated) {

    public static final String FORMAT = "vitfit-embedding-cache";
    public static final int FORMAT_VERSION = 1;

    /** The storage type as an enum. */
    public VectorDtype vectorDtype() {
        return VectorDtype.parse(dtype);
    }

    /** Bytes of one stored vector. */
    public int rowBytes() {
        return dimension * vectorDtype().bytesPerValue();
    }
}
