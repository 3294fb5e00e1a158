package org.vitfit.finetune;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.vitfit.convert.Converter;
import org.vitfit.convert.VitGraphBuilder;
import org.vitfit.convert.VitParameters;
import org.vitfit.eval.ClassificationReport;
import org.vitfit.eval.EvaluationReport;
import org.vitfit.eval.HeadEvaluator;
import org.vitfit.eval.MetricsFile;
import org.vitfit.eval.MultiLabelReport;
import org.vitfit.heads.EmbeddingSet;
import org.vitfit.heads.Head;
import org.vitfit.heads.HeadTask;
import org.vitfit.heads.LinearHeads;
import org.vitfit.heads.Normalization;
import org.vitfit.heads.Thresholds;
import org.vitfit.io.Durable;
import org.vitfit.io.OutputKind;
import org.vitfit.io.SafeOutput;
import org.vitfit.onnx.OnnxSessions;
import org.vitfit.runtime.ModelDescriptor;

import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes the fine-tuned model directory, whole or not at all ({@link SafeOutput#writeDirectory}, kind
 * {@link OutputKind#FINETUNE}):
 * <ul>
 *   <li>{@code model.onnx} + {@code vitfit-model.json}: the converter's own graph and descriptor
 *       ({@code Converter.write}) for the kept weights, LoRA adapters merged, the fine-tuned classifier as
 *       {@code logits}, and {@code task} recording multiclass or multilabel;</li>
 *   <li>{@code head/}: the same classifier as a linear head directory (head-trainer's format) bound to this
 *       {@code model.onnx}, for {@code vitfit export --model OUT --head OUT/head};</li>
 *   <li>{@code metrics.json} and {@code report.txt}: head-trainer's evaluation ({@link HeadEvaluator}) of the
 *       written model on the validation split and, when there is one, the test split;</li>
 *   <li>{@code finetune.json}: options, data, what trained, per-epoch history, kept epoch, scores.</li>
 * </ul>
 * The evaluation runs the {@code model.onnx} bytes being published, opened from memory.
 */
final class FinetuneOutput {

    static final String HEAD_DIR = "head";
    static final String REPORT = "finetune.json";
    static final String TABLES = "report.txt";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** What was written, and the reports of the written model. */
    record Written(ModelDescriptor model, EvaluationReport validation, EvaluationReport test) {
    }

    private FinetuneOutput() {
    }

    /**
     * @param tuned   the kept weights in the converter's layout, with the classifier as {@code head}
     * @param report  finetune.json's content (scores of the written model are added)
     */
    static Written write(Path output, boolean overwrite, List<SafeOutput.Input> inputs, Converter.Loaded tuned,
                         LabelledImages data, int[] validation, int[] test, PixelBatches plain, FinetuneOptions o,
                         Map<String, Object> report) throws IOException {
        return SafeOutput.writeDirectory(output, OutputKind.FINETUNE, overwrite, inputs, tmp -> {
            // The converter writes into a fresh directory of its own; its two files are this output's model.
            Path staging = tmp.resolve(".model");
            ModelDescriptor written = Converter.write(tuned, staging, false);
            ModelDescriptor descriptor = written.withTask(o.multiLabel() ? ModelDescriptor.MULTILABEL
                    : ModelDescriptor.MULTICLASS);
            Durable.moveAtomically(staging.resolve(ModelDescriptor.ONNX_FILE_NAME),
                    tmp.resolve(ModelDescriptor.ONNX_FILE_NAME), false);
            descriptor.write(tmp.resolve(ModelDescriptor.FILE_NAME));
            Durable.deleteTree(staging);

            Head head = head(tuned.parameters().head(), data.classes(), descriptor, o);
            head.save(tmp.resolve(HEAD_DIR));

            byte[] onnx = Files.readAllBytes(tmp.resolve(ModelDescriptor.ONNX_FILE_NAME));
            EvaluationReport val;
            EvaluationReport tst = null;
            try (OnnxSessions.Opened session = OnnxSessions.open(onnx, o.device(), o.threads())) {
                val = evaluate(session, head, data, validation, "validation", plain, o, descriptor);
                if (test.length > 0) {
                    tst = evaluate(session, head, data, test, "test", plain, o, descriptor);
                }
            } catch (OrtException e) {
                throw new IOException("evaluating the written model failed: " + e.getMessage(), e);
            }
            Map<String, EvaluationReport> reports = new LinkedHashMap<>();
            reports.put("validation", val);
            if (tst != null) {
                reports.put("test", tst);
            }
            Map<String, Object> context = new LinkedHashMap<>();
            context.put("model", output.toAbsolutePath().toString());
            context.put("modelSha256", descriptor.onnxSha256());
            context.put("images", data.source());
            MetricsFile.write(tmp.resolve(MetricsFile.NAME), context, reports);
            StringBuilder tables = new StringBuilder();
            reports.values().forEach(r -> tables.append(r.toTable()).append('\n'));
            Files.writeString(tmp.resolve(TABLES), tables.toString(), StandardCharsets.UTF_8);

            Map<String, Object> full = new LinkedHashMap<>(report);
            full.put("validationScore", headlineScore(val));
            if (tst != null) {
                full.put("testScore", headlineScore(tst));
            }
            Files.write(tmp.resolve(REPORT), JSON.writeValueAsBytes(full));
            return new Written(descriptor, val, tst);
        });
    }

    /** Accuracy (multi-class) or micro-F1 (multi-label). */
    static double headlineScore(EvaluationReport r) {
        return r instanceof ClassificationReport c ? c.accuracy() : ((MultiLabelReport) r).microF1();
    }

    /**
     * The fine-tuned classifier as a linear head: softmax (or sigmoid at 0.5) of W·embedding + b, with the same
     * weights as the model's {@code logits}, bound to its {@code model.onnx}.
     */
    private static Head head(VitParameters.Linear classifier, List<String> labels, ModelDescriptor model,
                             FinetuneOptions o) {
        int d = (int) classifier.weight().dim(0);
        int k = labels.size();
        float[][] weights = new float[k][d];
        for (int i = 0; i < d; i++) {
            for (int j = 0; j < k; j++) {
                weights[j][i] = classifier.weight().data()[i * k + j];
            }
        }
        Map<String, Object> training = new LinkedHashMap<>();
        training.put("head", "linear");
        training.put("trainer", "vitfit-finetune");
        training.put("multilabel", o.multiLabel());
        training.put("epochs", o.epochs());
        training.put("lrHead", o.lrHead());
        training.put("lrBackbone", o.lrBackbone());
        return LinearHeads.fromWeights(o.multiLabel() ? HeadTask.MULTILABEL : HeadTask.MULTICLASS, labels, weights,
                classifier.bias().data(), Normalization.none(), o.multiLabel() ? Thresholds.fixed(k) : null,
                model.onnxSha256(), "vitfit finetune, trained jointly with the backbone", training);
    }

    /** Embeddings of {@code rows} by the written model, evaluated with the head through head-trainer's evaluator. */
    private static EvaluationReport evaluate(OnnxSessions.Opened session, Head head, LabelledImages data, int[] rows,
                                             String split, PixelBatches plain, FinetuneOptions o,
                                             ModelDescriptor descriptor) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        int dim = descriptor.embeddingDim();
        float[] embeddings = new float[rows.length * dim];
        FloatBuffer pixels = TrainingSession.direct(o.batchSize() * plain.floatsPerImage());
        for (int from = 0; from < rows.length; from += o.batchSize()) {
            int n = Math.min(o.batchSize(), rows.length - from);
            int[] batch = java.util.Arrays.copyOfRange(rows, from, from + n);
            FloatBuffer view = TrainingSession.view(pixels, n * plain.floatsPerImage());
            plain.fill(batch, view, 0, 0);
            try (OnnxTensor x = OnnxTensor.createTensor(env, view, plain.shape(n));
                 OrtSession.Result r = session.session().run(Map.of(VitGraphBuilder.INPUT, x),
                         Set.of(VitGraphBuilder.EMBEDDING))) {
                ((OnnxTensor) r.get(0)).getFloatBuffer().get(embeddings, from * dim, n * dim);
            }
        }
        List<List<String>> labels = new ArrayList<>();
        List<String> paths = new ArrayList<>();
        for (int r : rows) {
            labels.add(data.labels(r));
            paths.add(data.image(r).path());
        }
        EmbeddingSet set = new EmbeddingSet(embeddings, dim, labels, null, paths, descriptor.onnxSha256(),
                data.source() + " (" + split + ")");
        int[] all = java.util.stream.IntStream.range(0, rows.length).toArray();
        return HeadEvaluator.evaluate(head, set, all, split);
    }
}
