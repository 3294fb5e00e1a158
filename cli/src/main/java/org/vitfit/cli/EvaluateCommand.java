package org.vitfit.cli;

import org.vitfit.eval.EvaluationOutput;
import org.vitfit.eval.EvaluationReport;
import org.vitfit.eval.HeadEvaluator;
import org.vitfit.heads.EmbeddingSet;
import org.vitfit.heads.Head;
import org.vitfit.heads.LibraryLog;
import org.vitfit.io.OutputKind;
import org.vitfit.io.SafeOutput;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "evaluate",
        description = {
                "Evaluate a trained head on (another) embedding cache and print the metrics.",
                "",
                "Evaluates the cache's test rows; a cache without test rows needs --split (train, val or all: rows the",
                "head was trained or tuned on give optimistic figures). Writes metrics.json, report.txt and, for",
                "multi-class heads, confusion_matrix.png to --output (default: <head>/evaluation-<cache name>-<split>);",
                "--scores also writes every image's scores (.csv or .jsonl: path, true labels, predicted, scores).",
                "",
                "Example:",
                "  vitfit evaluate --head target/pets-head --cache target/pets-cache --split test --scores scores.csv",
        },
        mixinStandardHelpOptions = true)
final class EvaluateCommand implements Callable<Integer> {

    @Option(names = "--head", required = true, paramLabel = "DIR", description = "Head directory written by 'vitfit train'.")
    Path head;

    @Option(names = "--cache", required = true, paramLabel = "DIR", description = "Embedding cache to evaluate on.")
    Path cache;

    @Option(names = "--split", paramLabel = "NAME",
            description = "train, val, test or all (default: test; required when the cache has no test rows).")
    String split;

    @Option(names = {"-o", "--output"}, paramLabel = "DIR", description = "Where to write the metrics.")
    Path output;

    @Option(names = "--scores", paramLabel = "FILE",
            description = "Also write per-image scores: FILE.csv (path,true_labels,predicted,<one column per label>) or "
                    + "FILE.jsonl ({\"path\",\"true_labels\",\"predicted\",\"scores\":{label: score}} per line).")
    Path scores;

    @Option(names = "--overwrite", description = "Replace --output and --scores if vitfit wrote them earlier (anything else is refused).")
    boolean overwrite;

    @Option(names = "--verbose", description = "Also print what Tribuo logged while evaluating.")
    boolean verbose;

    @Override
    public Integer call() throws Exception {
        Head loaded = Head.load(head);
        EmbeddingSet set = EmbeddingSet.fromCache(cache);
        EvaluationOutput.checkBackbone(loaded, set);
        String which = split != null ? split : defaultSplit(set);
        int[] rows = EvaluationOutput.rows(set, which);
        Path out = output != null ? output
                : head.resolve("evaluation-" + cache.toAbsolutePath().normalize().getFileName() + "-"
                + which.toLowerCase(Locale.ROOT));
        // The default location lies inside the head on purpose; an explicit one may not overlap either input.
        List<SafeOutput.Input> inputs = output != null
                ? List.of(SafeOutput.Input.of("--cache", cache), SafeOutput.Input.of("--head", head))
                : List.of(SafeOutput.Input.of("--cache", cache));
        boolean replace = overwrite || output == null;
        SafeOutput.checkDirectory(out, OutputKind.REPORT, replace, inputs);
        List<SafeOutput.Input> scoreInputs = List.of(SafeOutput.Input.of("--cache", cache));
        if (scores != null) {
            EvaluationOutput.checkScoresFile(scores, overwrite, scoreInputs);
        }
        HeadEvaluator.checkRows(loaded, set, rows, which);
        float[] scored = loaded.scores(set, rows);
        LibraryLog.Captured<EvaluationReport> report = LibraryLog.capture(
                () -> HeadEvaluator.evaluateScores(loaded, set, rows, scored, which));
        if (verbose) {
            report.lines().forEach(System.err::println);
        }
        EvaluationOutput.write(out, replace, inputs, head, set, report.value());
        if (scores != null) {
            EvaluationOutput.writeScores(scores, overwrite, scoreInputs, loaded, set, rows, scored);
        }
        System.out.print(report.value().toTable());
        System.out.println("wrote metrics to " + out);
        if (scores != null) {
            System.out.println("wrote the scores of " + rows.length + " images to " + scores);
        }
        return 0;
    }

    /** {@code test} when the cache has test rows; otherwise the user must say which rows to evaluate. */
    private static String defaultSplit(EmbeddingSet set) {
        for (int i = 0; i < set.size(); i++) {
            String s = set.split(i);
            if (s != null && (s.trim().equalsIgnoreCase("test") || s.trim().equalsIgnoreCase("testing"))) {
                return "test";
            }
        }
        throw new IllegalArgumentException(set.source() + " has no test rows ("
                + (set.hasSplitColumn() ? "its split column marks none as test" : "it has no split column")
                + "); say which rows to evaluate with --split train, val or all. Rows the head was trained or tuned on "
                + "give optimistic figures: evaluate on images it has not seen");
    }
}
