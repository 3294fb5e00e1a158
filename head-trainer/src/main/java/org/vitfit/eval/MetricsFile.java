package org.vitfit.eval;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code metrics.json}: one object with a {@code "context"} block (what was evaluated with what) and one block per
 * evaluated split, each the fields of its {@link ClassificationReport} or {@link MultiLabelReport} plus
 * {@code "task"}.
 */
public final class MetricsFile {

    public static final String NAME = "metrics.json";
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private MetricsFile() {
    }

    /** Writes {@code reports} (keyed by split name, in order) and {@code context} to {@code file}. */
    public static void write(Path file, Map<String, Object> context, Map<String, EvaluationReport> reports)
            throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.set("context", JSON.valueToTree(context));
        for (Map.Entry<String, EvaluationReport> e : reports.entrySet()) {
            ObjectNode node = JSON.valueToTree(e.getValue());
            node.put("task", e.getValue() instanceof ClassificationReport ? "multiclass" : "multilabel");
            root.set(e.getKey(), node);
        }
        JSON.writeValue(file.toFile(), root);
    }
}
