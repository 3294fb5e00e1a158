package org.vitfit.extract;

import java.nio.file.Path;
import java.util.List;

/**
 * The images an input names, in a stable order (folders: sorted by path; manifests: file order).
 *
 * @param kind  how the input was read
 * @param root  the folder paths are relative to
 * @param items the images after include/exclude filtering
 */
public record InputSet(Kind kind, Path root, List<InputItem> items) {

    public enum Kind {
        /** One subfolder per class; the subfolder name is the label. */
        IMAGE_FOLDER,
        /** Images without labels, found recursively. */
        PLAIN_FOLDER,
        CSV_MANIFEST,
        JSONL_MANIFEST
    }

    public InputSet {
        items = List.copyOf(items);
    }
}
