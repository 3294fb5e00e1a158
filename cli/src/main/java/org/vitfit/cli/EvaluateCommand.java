package org.vitfit.cli;

import org.vitfit.eval.EvaluationOutput;
import org.vitfit.eval.EvaluationReport;
import org.vitfit.eval.HeadEvaluator;
import org.vitfit.heads.EmbeddingSet;
import org.vitfit.heads.Head;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "evaluate",
        description = {
                "Evaluate a trained head on (another) embedding cache and print the metrics.",
                "",
                "Writes metrics.json, report.txt and, for multi-class heads, confusion_matrix.png to --output",
                "(default: <head>/evaluation-<cache name>-<split>).",
                "",
                "Example:",
                "  vitfit evaluate --head target/pets-head --cache target/pets-cache --split test",
        },
        mixinStandardHelpOptions = true)
final class EvaluateCommand implements Callable<Integer> {

    @Option(names = "--head", required = true, paramLabel = "DIR", description = "Head directory written by 'vitfit train'.")
    Path head;

    @Option(names = "--cache", required = true, paramLabel = "DIR", description = "Embedding cache to evaluate on.")
    Path cache;

    @Option(names = "--split", paramLabel = "NAME",
            description = "train, val, test or all (default: test when the cache has a split column, else all).")
    String split;

    @Option(names = {"-o", "--output"}, paramLabel = "DIR", description = "Where to write the metrics.")
    Path output;

    @Override
    public Integer call() throws Exception {
        Head loaded = Head.load(head);
        EmbeddingSet set = EmbeddingSet.fromCache(cache);
        EvaluationOutput.checkBackbone(loaded, set);
        String which = split != null ? split : (set.hasSplitColumn() ? "test" : "all");
        int[] rows = EvaluationOutput.rows(set, which);
        EvaluationReport report = HeadEvaluator.evaluate(loaded, set, rows, which);
        Path out = output != null ? output
                : head.resolve("evaluation-" + cache.toAbsolutePath().normalize().getFileName() + "-" + which);
        EvaluationOutput.write(out, output == null, head, set, report);
        System.out.print(report.toTable());
        System.out.println("wrote metrics to " + out);
        return 0;
    }
}
