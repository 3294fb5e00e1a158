package org.vitfit.extract;

import java.nio.file.Path;
import java.util.List;

/**
 * One image to embed.
 *
 * @param file   where to read it
 * @param path   its name in the cache: relative to the input folder ({@code /}-separated) or as the manifest wrote it
 * @param labels class folder name, manifest labels, or empty
 * @param split  manifest split or null
 * @param origin where it was listed ({@code labels.csv line 7}) or the folder it was found in, for messages
 */
public record InputItem(Path file, String path, List<String> labels, String split, String origin) {

    public InputItem {
        labels = List.copyOf(labels);
    }
}
