package org.vitfit.cli;

import org.vitfit.heads.Activation;
import org.vitfit.heads.EmbeddingSet;
import org.vitfit.heads.HeadKind;
import org.vitfit.heads.HeadTrainer;
import org.vitfit.heads.Thresholds;
import org.vitfit.heads.TrainingRun;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "train",
        description = {
                "Train a classification head on cached embeddings (the backbone stays frozen).",
                "",
                "Uses the cache's split column (train / val / test) when it has one, otherwise a seeded stratified",
                "split by --fractions. Writes <output>/head.json, model.tribuo (Tribuo), head.onnx, metrics.json,",
                "report.txt, training_curve.png and, for multi-class heads, confusion_matrix.png.",
                "",
                "Examples:",
                "  vitfit train --cache target/pets-cache --head linear --output target/pets-head",
                "  vitfit train --cache target/coco-cache --head mlp --multilabel --hidden 512 --output target/coco-head",
        },
        mixinStandardHelpOptions = true)
final class TrainCommand implements Callable<Integer> {

    @Option(names = "--cache", required = true, paramLabel = "DIR", description = "Embedding cache written by 'vitfit extract'.")
    Path cache;

    @Option(names = "--head", paramLabel = "KIND", defaultValue = "linear",
            description = "linear (Tribuo logistic regression) or mlp (default: ${DEFAULT-VALUE}).")
    String head;

    @Option(names = "--multilabel", description = "Each image may have any set of labels (sigmoid per label).")
    boolean multiLabel;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "DIR", description = "Head directory to create.")
    Path output;

    @Option(names = "--overwrite", description = "Replace --output if it exists.")
    boolean overwrite;

    @Option(names = "--epochs", paramLabel = "N", description = "Passes over the data (default: linear 20, raised to reach at least 40,000 steps on small data; mlp 100 with early stopping).")
    Integer epochs;

    @Option(names = "--lr", paramLabel = "X", description = "Learning rate (default 1e-3).")
    Double learningRate;

    @Option(names = "--batch-size", paramLabel = "N", description = "Examples per step (default: 1 linear, 128 mlp).")
    Integer batchSize;

    @Option(names = "--hidden", paramLabel = "N", defaultValue = "512", description = "MLP hidden width (default: ${DEFAULT-VALUE}).")
    int hidden;

    @Option(names = "--layers", paramLabel = "N", defaultValue = "1", description = "MLP hidden layers, 1 or 2 (default: ${DEFAULT-VALUE}).")
    int layers;

    @Option(names = "--activation", paramLabel = "NAME", defaultValue = "gelu", description = "gelu or relu (default: ${DEFAULT-VALUE}).")
    String activation;

    @Option(names = "--dropout", paramLabel = "P", defaultValue = "0.1", description = "MLP dropout (default: ${DEFAULT-VALUE}).")
    float dropout;

    @Option(names = "--weight-decay", paramLabel = "X", defaultValue = "0.01", description = "MLP AdamW weight decay (default: ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--patience", paramLabel = "N", defaultValue = "8",
            description = "MLP early stopping: epochs without validation improvement (0 = off; default: ${DEFAULT-VALUE}).")
    int patience;

    @Option(names = "--optimiser", paramLabel = "NAME", defaultValue = "adam", description = "Linear head optimiser: adam or adagrad (default: ${DEFAULT-VALUE}).")
    String optimiser;

    @Option(names = "--l2-normalize", description = "Divide each embedding by its L2 norm first.")
    boolean l2Normalize;

    @Option(names = "--no-standardize", description = "Do not standardise components (on by default, fitted on the training split).")
    boolean noStandardize;

    @Option(names = "--class-weight", paramLabel = "MODE", defaultValue = "none", description = "none or balanced (default: ${DEFAULT-VALUE}).")
    String classWeight;

    @Option(names = "--thresholds", paramLabel = "MODE", defaultValue = "global",
            description = "Multi-label thresholds: fixed (0.5), global or per-label, tuned on validation (default: ${DEFAULT-VALUE}).")
    String thresholds;

    @Option(names = "--fractions", paramLabel = "TRAIN,VAL,TEST", defaultValue = "0.7,0.1,0.2", split = ",",
            description = "Split fractions when the cache has no split column (default: ${DEFAULT-VALUE}).")
    double[] fractions;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "1", description = "Random seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Override
    public Integer call() throws Exception {
        if (fractions.length != 3) {
            throw new IllegalArgumentException("--fractions needs three numbers TRAIN,VAL,TEST, got " + fractions.length);
        }
        HeadTrainer.Builder b = HeadTrainer.builder()
                .head(HeadKind.parse(head))
                .multiLabel(multiLabel)
                .hiddenSize(hidden)
                .hiddenLayers(layers)
                .activation(parseEnum(Activation.class, activation, "--activation", "gelu or relu"))
                .dropout(dropout)
                .weightDecay(weightDecay)
                .patience(patience)
                .linearOptimiser(parseEnum(HeadTrainer.LinearOptimiser.class, optimiser, "--optimiser", "adam or adagrad"))
                .l2Normalize(l2Normalize)
                .standardize(!noStandardize)
                .classWeighting(parseEnum(HeadTrainer.ClassWeighting.class, classWeight, "--class-weight", "none or balanced"))
                .thresholds(Thresholds.Mode.parse(thresholds))
                .fractions(fractions[0], fractions[1], fractions[2])
                .seed(seed);
        if (epochs != null) {
            b.epochs(epochs);
        }
        if (learningRate != null) {
            b.learningRate(learningRate);
        }
        if (batchSize != null) {
            b.batchSize(batchSize);
        }
        HeadTrainer trainer = b.build();
        EmbeddingSet set = EmbeddingSet.fromCache(cache);
        TrainingRun run = trainer.train(set);
        run.writeTo(output, overwrite);
        System.out.print(run.report());
        System.out.println("wrote head to " + output);
        return 0;
    }

    static <E extends Enum<E>> E parseEnum(Class<E> type, String value, String option, String expected) {
        try {
            return Enum.valueOf(type, value.trim().toUpperCase(Locale.ROOT).replace('-', '_'));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(option + " must be " + expected + ", got '" + value + "'");
        }
    }
}
