package org.vitfit.extract;

import java.util.List;

/**
 * Which columns of a CSV manifest (or fields of a JSONL one) hold what. Column names match case-insensitively;
 * a column named explicitly must exist.
 *
 * @param pathColumn     the image path; null: {@code path}
 * @param labelsColumn   the labels of each image; null: {@code labels} or {@code label} when there is one
 * @param splitColumn    the split ({@code train}, {@code val}, ...); null: {@code split} when there is one
 * @param labelSeparator what separates several labels in one cell; null: {@code |} in CSV, and a JSONL string is one
 *                       label. A cell that looks like a list ({@code ['cat', 'dog']}, {@code ["cat","dog"]}) is read
 *                       as a list whatever the separator
 * @param labelColumns   one-hot label columns instead of a labels column: names ({@code cat}), or prefixes ending
 *                       in {@code *} ({@code attr_*}, the label is the rest of the name); a cell holds 1/0,
 *                       true/false or yes/no (empty means 0)
 */
public record ManifestFormat(String pathColumn, String labelsColumn, String splitColumn, String labelSeparator,
                             List<String> labelColumns) {

    public static final ManifestFormat DEFAULT = new ManifestFormat(null, null, null, null, List.of());

    public ManifestFormat {
        labelColumns = labelColumns == null ? List.of() : List.copyOf(labelColumns);
        pathColumn = blankToNull(pathColumn, "--path-column");
        labelsColumn = blankToNull(labelsColumn, "--labels-column");
        splitColumn = blankToNull(splitColumn, "--split-column");
        if (labelSeparator != null && labelSeparator.isEmpty()) {
            throw new IllegalArgumentException("--label-separator is empty; give the text between two labels, "
                    + "e.g. '|' or ';'");
        }
        if (labelsColumn != null && !labelColumns.isEmpty()) {
            throw new IllegalArgumentException("--labels-column and --label-columns are two ways to give labels: "
                    + "use one column holding all labels of an image, or one-hot columns, not both");
        }
        for (String c : labelColumns) {
            if (c.isBlank() || c.equals("*")) {
                throw new IllegalArgumentException("--label-columns: '" + c + "' names no column; give column names "
                        + "(cat,dog) or a prefix ending in * (attr_*)");
            }
        }
    }

    private static String blankToNull(String s, String option) {
        if (s == null) {
            return null;
        }
        if (s.isBlank()) {
            throw new IllegalArgumentException(option + " is empty; give a column name");
        }
        return s.trim();
    }

    /** True when nothing differs from the default layout ({@code path,labels,split}). */
    public boolean isDefault() {
        return equals(DEFAULT);
    }

    public ManifestFormat withPathColumn(String v) {
        return new ManifestFormat(v, labelsColumn, splitColumn, labelSeparator, labelColumns);
    }

    public ManifestFormat withLabelsColumn(String v) {
        return new ManifestFormat(pathColumn, v, splitColumn, labelSeparator, labelColumns);
    }

    public ManifestFormat withSplitColumn(String v) {
        return new ManifestFormat(pathColumn, labelsColumn, v, labelSeparator, labelColumns);
    }

    public ManifestFormat withLabelSeparator(String v) {
        return new ManifestFormat(pathColumn, labelsColumn, splitColumn, v, labelColumns);
    }

    public ManifestFormat withLabelColumns(List<String> v) {
        return new ManifestFormat(pathColumn, labelsColumn, splitColumn, labelSeparator, v);
    }
}
