package org.vitfit.heads;

import com.oracle.labs.mlrg.olcut.provenance.Provenance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tribuo.Example;
import org.tribuo.Model;
import org.tribuo.MutableDataset;
import org.tribuo.Prediction;
import org.tribuo.classification.Label;
import org.tribuo.classification.LabelFactory;
import org.tribuo.multilabel.MultiLabel;
import org.tribuo.multilabel.MultiLabelFactory;
import org.tribuo.provenance.SimpleDataSourceProvenance;
import org.tribuo.provenance.TrainerProvenance;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The MLP as a Tribuo Trainer/Model pair: learning, provenance, protobuf round trip, ONNX export. */
class MLPModelTest {

    private static MutableDataset<Label> labelled(EmbeddingSet set) {
        LabelFactory f = new LabelFactory();
        MutableDataset<Label> ds = new MutableDataset<>(new SimpleDataSourceProvenance("blobs", f), f);
        String[] names = FeatureNames.of(set.dimension());
        for (int i = 0; i < set.size(); i++) {
            ds.add(FeatureNames.example(new Label(set.labels(i).get(0)), names, set.data(), i * set.dimension(),
                    set.dimension()));
        }
        return ds;
    }

    private static MutableDataset<MultiLabel> multiLabelled(EmbeddingSet set) {
        MultiLabelFactory f = new MultiLabelFactory();
        MutableDataset<MultiLabel> ds = new MutableDataset<>(new SimpleDataSourceProvenance("ml", f), f);
        String[] names = FeatureNames.of(set.dimension());
        for (int i = 0; i < set.size(); i++) {
            Set<Label> ls = new HashSet<>();
            set.labels(i).forEach(l -> ls.add(new Label(l)));
            ds.add(FeatureNames.example(new MultiLabel(ls), names, set.data(), i * set.dimension(), set.dimension()));
        }
        return ds;
    }

    private static MLPOptions options(Activation act, int layers, int epochs) {
        return new MLPOptions(32, layers, act, 0.1f, 3e-3, 1e-2, epochs, 32, 5, 0.2, 7L);
    }

    @Test
    void classifierLearnsBlobsAndRecordsProvenance() {
        EmbeddingSet train = Synthetic.blobs(4, 80, 12, 1.0, 1);
        EmbeddingSet test = Synthetic.blobs(4, 40, 12, 1.0, 1);
        MLPClassificationTrainer trainer = new MLPClassificationTrainer(options(Activation.GELU, 2, 40));
        MLPTrainer.Fit<Label> fit = trainer.fit(labelled(train), null, Map.of(), -1);
        MLPModel<Label> model = fit.model();
        int correct = 0;
        for (Example<Label> e : labelled(test)) {
            if (model.predict(e).getOutput().getLabel().equals(e.getOutput().getLabel())) {
                correct++;
            }
        }
        assertTrue(correct / (double) test.size() > 0.9, "accuracy " + correct / (double) test.size());
        // validation history exists because 20% of train was held out
        assertEquals(fit.curve().trainLoss().size(), fit.curve().validationLoss().size());
        assertTrue(fit.curve().validationMetric().get(fit.curve().validationMetric().size() - 1) > 0.8);

        TrainerProvenance tp = model.getProvenance().getTrainerProvenance();
        Map<String, Provenance> params = tp.getConfiguredParameters();
        assertEquals("32", params.get("hiddenSize").toString().replaceAll("[^0-9]", ""));
        assertTrue(params.containsKey("weightDecay") && params.containsKey("activation") && params.containsKey("dropout"),
                params.keySet().toString());
        assertEquals(MLPClassificationTrainer.class.getName(), tp.getClassName());
        assertEquals(1, trainer.getInvocationCount());
    }

    @Test
    void sameSeedSameModelAndInvocationCountReplays() {
        EmbeddingSet train = Synthetic.blobs(3, 30, 8, 1.0, 2);
        MutableDataset<Label> ds = labelled(train);
        MLPClassificationTrainer a = new MLPClassificationTrainer(options(Activation.RELU, 1, 5));
        MLPClassificationTrainer b = new MLPClassificationTrainer(options(Activation.RELU, 1, 5));
        float[] x = train.vector(0);
        float[] pa = a.train(ds).probabilities(x, 1);
        float[] pb = b.train(ds).probabilities(x, 1);
        assertArrayEquals(pa, pb);
        // a second call draws a new stream; asking for invocation 0 again replays the first model
        float[] second = a.train(ds).probabilities(x, 1);
        assertTrue(!java.util.Arrays.equals(pa, second));
        float[] replay = a.train(ds, Map.of(), 0).probabilities(x, 1);
        assertArrayEquals(pa, replay);
    }

    @Test
    void protobufRoundTripKeepsPredictions(@TempDir Path dir) throws Exception {
        EmbeddingSet train = Synthetic.multiLabel(200, 4, 10, 3);
        MLPModel<MultiLabel> model = new MLPMultiLabelTrainer(options(Activation.GELU, 1, 5)).train(multiLabelled(train));
        Path file = dir.resolve("model.tribuo");
        model.serializeToFile(file);
        Model<?> loaded = Model.deserializeFromFile(file);
        MLPMultiLabelModel back = assertInstanceOf(MLPMultiLabelModel.class, loaded);
        assertEquals(model.getProvenance(), back.getProvenance());
        assertEquals(model.getOutputIDInfo().getDomain(), back.getOutputIDInfo().getDomain());
        for (Example<MultiLabel> e : multiLabelled(train)) {
            Prediction<MultiLabel> p1 = model.predict(e);
            Prediction<MultiLabel> p2 = back.predict(e);
            assertEquals(p1.getOutput(), p2.getOutput());
            assertTrue(p1.distributionEquals(p2, 0.0));
        }
    }

    @Test
    void onnxExportMatchesJavaGeluClassifier() throws Exception {
        EmbeddingSet train = Synthetic.blobs(5, 20, 9, 1.0, 4);
        MLPModel<Label> model = new MLPClassificationTrainer(options(Activation.GELU, 2, 4)).train(labelled(train));
        checkOnnx(model, train);
    }

    @Test
    void onnxExportMatchesJavaReluMultiLabel() throws Exception {
        EmbeddingSet train = Synthetic.multiLabel(120, 5, 7, 5);
        MLPModel<MultiLabel> model = new MLPMultiLabelTrainer(options(Activation.RELU, 1, 4)).train(multiLabelled(train));
        checkOnnx(model, train);
    }

    private static void checkOnnx(MLPModel<?> model, EmbeddingSet data) throws Exception {
        byte[] onnx = model.exportONNXModel("org.vitfit.test", 1).toByteArray();
        int n = data.size();
        float[][] rows = new float[n][];
        for (int i = 0; i < n; i++) {
            rows[i] = data.vector(i);
        }
        float[][] ort = OnnxCheck.run(onnx, "input", rows);
        float[] java = model.probabilities(data.data(), n);
        int k = model.getOutputIDInfo().size();
        double maxDiff = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < k; j++) {
                maxDiff = Math.max(maxDiff, Math.abs(ort[i][j] - java[i * k + j]));
            }
        }
        assertTrue(maxDiff < 1e-5, "max |onnx - java| = " + maxDiff);
    }
}
