package org.vitfit.cache;

import org.vitfit.preprocess.PreprocessRecipe;

/**
 * What makes two embeddings comparable: the same model bytes, the same preprocessing, the same width.
 * A writer refuses to add rows to a cache whose identity differs.
 *
 * @param modelSha256   sha256 of {@code model.onnx}
 * @param modelSource   where the model came from, for messages only
 * @param preprocessing the recipe every image went through
 * @param dimension     embedding width
 * @param dtype         storage type; null means "whatever the existing cache uses, f32 for a new one"
 */
public record CacheIdentity(String modelSha256, String modelSource, PreprocessRecipe preprocessing, int dimension,
                            VectorDtype dtype) {
}
