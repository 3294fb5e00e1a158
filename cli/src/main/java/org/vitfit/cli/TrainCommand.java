package org.vitfit.cli;

import org.vitfit.heads.Activation;
import org.vitfit.heads.EmbeddingSet;
import org.vitfit.heads.HeadKind;
import org.vitfit.heads.HeadTrainer;
import org.vitfit.heads.Thresholds;
import org.vitfit.heads.TrainingRun;
import org.vitfit.io.OutputKind;
import org.vitfit.io.SafeOutput;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "train",
        description = {
                "Train a classification head on cached embeddings (the backbone stays frozen).",
                "",
                "The linear head is L2-regularised logistic regression (multinomial; one sigmoid per label with",
                "--multilabel) solved by L-BFGS, its strength C chosen from 1e-4..100 on the validation split, or by",
                "5-fold cross-validation on the training rows when there is none. The MLP stops early the same way.",
                "",
                "Rows: the cache's split column (train / val / test) when it has one, otherwise a seeded stratified",
                "split by --fractions. The report says which rows checked the head and warns when no test rows did.",
                "Writes <output>/head.json, model.tribuo (Tribuo), head.onnx, metrics.json, report.txt, training.log,",
                "training_curve.png and, for multi-class heads, confusion_matrix.png.",
                "",
                "Examples:",
                "  vitfit train --cache target/pets-cache --output target/pets-head",
                "  vitfit train --cache target/coco-cache --multilabel --thresholds per-label --output target/coco-head",
                "  vitfit train --cache target/coco-cache --head mlp --multilabel --hidden 512 --output target/coco-mlp",
        },
        mixinStandardHelpOptions = true)
final class TrainCommand implements Callable<Integer> {

    @Option(names = "--cache", required = true, paramLabel = "DIR", description = "Embedding cache written by 'vitfit extract'.")
    Path cache;

    @Option(names = "--head", paramLabel = "KIND", defaultValue = "linear",
            description = "linear (L2 logistic regression) or mlp (default: ${DEFAULT-VALUE}).")
    String head;

    @Option(names = "--multilabel", description = "Each image may have any set of labels (sigmoid per label).")
    boolean multiLabel;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "DIR", description = "Head directory to create.")
    Path output;

    @Option(names = "--overwrite", description = "Replace --output if it is a head vitfit wrote earlier (anything else is refused).")
    boolean overwrite;

    @Option(names = "--solver", paramLabel = "NAME",
            description = "Linear head: lbfgs (L2 logistic regression, default) or sgd (Tribuo's unregularised linear SGD).")
    String solver;

    @Option(names = "--C", paramLabel = "C[,C...]", split = ",",
            description = "Linear head: inverse L2 strength as in scikit-learn (smaller = stronger). One value is used as is; "
                    + "several are tried and the best kept (default: 1e-4,1e-3,0.01,0.1,1,10,100).")
    List<Double> c;

    @Option(names = "--folds", paramLabel = "K", description = "Cross-validation folds used when there is no validation split (default: 5).")
    Integer folds;

    @Option(names = "--epochs", paramLabel = "N", description = "MLP / SGD: passes over the data (default: mlp 100 with early stopping; sgd 20, raised to reach 40,000 steps on small data).")
    Integer epochs;

    @Option(names = "--lr", paramLabel = "X", description = "MLP / SGD: learning rate (default 1e-3).")
    Double learningRate;

    @Option(names = "--batch-size", paramLabel = "N", description = "MLP / SGD: examples per step (default: mlp 128, sgd 1).")
    Integer batchSize;

    @Option(names = "--hidden", paramLabel = "N", description = "MLP hidden width (default: 512).")
    Integer hidden;

    @Option(names = "--layers", paramLabel = "N", description = "MLP hidden layers, 1 or 2 (default: 1).")
    Integer layers;

    @Option(names = "--activation", paramLabel = "NAME", description = "MLP activation: gelu or relu (default: gelu).")
    String activation;

    @Option(names = "--dropout", paramLabel = "P", description = "MLP dropout in [0, 1) (default: 0.1).")
    Float dropout;

    @Option(names = "--weight-decay", paramLabel = "X", description = "MLP AdamW weight decay (default: 0.01).")
    Double weightDecay;

    @Option(names = "--patience", paramLabel = "N",
            description = "MLP early stopping: epochs without validation improvement (0 = off; default: 8).")
    Integer patience;

    @Option(names = "--optimiser", paramLabel = "NAME", description = "SGD linear head: adam or adagrad (default: adam).")
    String optimiser;

    @Option(names = "--l2-normalize", description = "Divide each embedding by its L2 norm first.")
    boolean l2Normalize;

    @Option(names = "--no-standardize", description = "Do not standardise components (on by default, fitted on the training split).")
    boolean noStandardize;

    @Option(names = "--class-weight", paramLabel = "MODE", defaultValue = "none", description = "none or balanced (default: ${DEFAULT-VALUE}).")
    String classWeight;

    @Option(names = "--thresholds", paramLabel = "MODE",
            description = "Multi-label decision thresholds: fixed (0.5), global (one value, best micro-F1) or per-label "
                    + "(each label's best F1), tuned on the validation split or out-of-fold scores (default: global).")
    String thresholds;

    @Option(names = "--fractions", paramLabel = "TRAIN,VAL,TEST", split = ",",
            description = "Without a split column: shares of a seeded stratified split (default: 0.7,0.1,0.2). With a "
                    + "column marking train and only val or only test: VAL/(TRAIN+VAL) of the train rows become the "
                    + "validation split (column val rows are then the test rows). With train, val and test marked: not used.")
    double[] fractions;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "1", description = "Random seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--verbose", description = "Also print what Tribuo and the trainers logged (always kept in <output>/training.log).")
    boolean verbose;

    @Override
    public Integer call() throws Exception {
        HeadTrainer trainer = trainer();
        List<SafeOutput.Input> inputs = List.of(SafeOutput.Input.of("--cache", cache));
        // refuse a bad --output now, not after the training
        SafeOutput.checkDirectory(output, OutputKind.HEAD, overwrite, inputs);
        EmbeddingSet set = EmbeddingSet.fromCache(cache);
        TrainingRun run;
        try {
            run = trainer.train(set);
        } catch (OutOfMemoryError e) {
            throw new IllegalStateException("training ran out of memory (Java heap " + Runtime.getRuntime().maxMemory()
                    / (1 << 20) + " MiB); use a smaller head (--hidden, --batch-size) or " + VitfitCli.MORE_MEMORY);
        }
        run.writeTo(output, overwrite, inputs);
        if (verbose) {
            run.log().forEach(System.err::println);
        }
        for (String w : run.warnings()) {
            System.err.println("warning: " + w);
        }
        System.out.print(run.report(false));
        System.out.println("wrote head to " + output);
        return 0;
    }

    /** The trainer the options describe, every option checked for range here with its own name. */
    HeadTrainer trainer() {
        HeadKind kind = HeadKind.parse(head);
        HeadTrainer.Builder b = HeadTrainer.builder().head(kind).multiLabel(multiLabel).l2Normalize(l2Normalize)
                .standardize(!noStandardize).seed(seed)
                .classWeighting(parseEnum(HeadTrainer.ClassWeighting.class, classWeight, "--class-weight", "none or balanced"));
        if (solver != null) {
            b.solver(parseEnum(HeadTrainer.LinearSolver.class, solver, "--solver", "lbfgs or sgd"));
        }
        if (c != null) {
            for (double v : c) {
                require(v > 0 && Double.isFinite(v), "--C must be finite numbers > 0 (e.g. 0.1 or 0.01,0.1,1), got " + v);
            }
            b.c(c);
        }
        if (folds != null) {
            require(folds >= 2 && folds <= 100, "--folds must be between 2 and 100, got " + folds);
            b.folds(folds);
        }
        if (epochs != null) {
            require(epochs >= 1 && epochs <= 100_000, "--epochs must be between 1 and 100000, got " + epochs);
            b.epochs(epochs);
        }
        if (learningRate != null) {
            require(learningRate > 0 && Double.isFinite(learningRate), "--lr must be a finite number > 0 (e.g. 1e-3), got "
                    + learningRate);
            b.learningRate(learningRate);
        }
        if (batchSize != null) {
            require(batchSize >= 1, "--batch-size must be at least 1, got " + batchSize);
            b.batchSize(batchSize);
        }
        if (hidden != null) {
            require(hidden >= 1, "--hidden must be at least 1, got " + hidden);
            b.hiddenSize(hidden);
        }
        if (layers != null) {
            require(layers == 1 || layers == 2, "--layers must be 1 or 2, got " + layers);
            b.hiddenLayers(layers);
        }
        if (activation != null) {
            b.activation(parseEnum(Activation.class, activation, "--activation", "gelu or relu"));
        }
        if (dropout != null) {
            require(dropout >= 0 && dropout < 1, "--dropout must be at least 0 and below 1, got " + dropout);
            b.dropout(dropout);
        }
        if (weightDecay != null) {
            require(weightDecay >= 0 && Double.isFinite(weightDecay), "--weight-decay must be a finite number >= 0, got "
                    + weightDecay);
            b.weightDecay(weightDecay);
        }
        if (patience != null) {
            require(patience >= 0, "--patience must be 0 (no early stopping) or more, got " + patience);
            b.patience(patience);
        }
        if (optimiser != null) {
            b.linearOptimiser(parseEnum(HeadTrainer.LinearOptimiser.class, optimiser, "--optimiser", "adam or adagrad"));
        }
        if (thresholds != null) {
            require(multiLabel, "--thresholds sets the decision thresholds of a multi-label head; add --multilabel, "
                    + "or leave it out (a multi-class head predicts its top class)");
            b.thresholds(parseEnum(Thresholds.Mode.class, thresholds, "--thresholds", "fixed, global or per-label"));
        }
        if (fractions != null) {
            require(fractions.length == 3, "--fractions needs three numbers TRAIN,VAL,TEST (e.g. 0.7,0.1,0.2), got "
                    + fractions.length);
            try {
                b.fractions(fractions[0], fractions[1], fractions[2]);
                return b.build();
            } catch (IllegalArgumentException e) {
                if (e.getMessage().startsWith("split fractions")) {
                    throw new IllegalArgumentException("--fractions: " + e.getMessage());
                }
                throw e;
            }
        }
        return b.build();
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    static <E extends Enum<E>> E parseEnum(Class<E> type, String value, String option, String expected) {
        List<String> names = new ArrayList<>();
        for (E e : type.getEnumConstants()) {
            names.add(e.name());
        }
        String wanted = value.trim().toUpperCase(Locale.ROOT).replace('-', '_');
        if (!names.contains(wanted)) {
            throw new IllegalArgumentException(option + " must be " + expected + ", got '" + value + "'");
        }
        return Enum.valueOf(type, wanted);
    }
}
