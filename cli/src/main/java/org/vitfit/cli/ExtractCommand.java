package org.vitfit.cli;

import org.vitfit.cache.VectorDtype;
import org.vitfit.extract.ConsoleProgress;
import org.vitfit.extract.ExtractOptions;
import org.vitfit.extract.ExtractSummary;
import org.vitfit.extract.Extractor;
import org.vitfit.extract.ManifestFormat;
import org.vitfit.onnx.Device;
import org.vitfit.preprocess.ImageDecoder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "extract",
        description = {
                "Embed every image of a folder or manifest with a converted model into an on-disk cache.",
                "",
                "Input: an ImageFolder tree (one subfolder per class, the folder name is the label), a plain folder",
                "of unlabelled images (both searched recursively), or a CSV / JSONL manifest with path, labels",
                "(CSV: |-separated, or a list like ['cat', 'dog']) and optional split; manifest paths are relative",
                "to it. Other column names: --path-column, --labels-column, --split-column; one-hot label columns:",
                "--label-columns.",
                "",
                "Re-running is incremental: unchanged images are skipped, new and changed ones embedded. Cached rows",
                "that the listing does not name (another --input, an --include, a removed file), and rows of",
                "listed images that cannot be read now (missing, no permission, an I/O error), are kept unless",
                "--prune is given; a row whose file changed and no longer embeds is deleted. Interrupted runs",
                "(even kill -9) resume where they stopped. Images that cannot be embedded are listed in",
                "<output>/errors.jsonl and the run goes on; the next run tries them again.",
                "",
                "The output is created, or must be an embedding cache: any other non-empty directory is refused",
                "and left untouched, as is an output inside --input or --model.",
                "",
                "Exit status: 0 done; 1 error; 2 some images failed and --strict was given.",
                "",
                "Example:",
                "  vitfit extract --model target/vit-tiny --input photos/ --output photos.cache",
        },
        mixinStandardHelpOptions = true)
final class ExtractCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Converted model directory (vitfit convert).")
    Path model;

    @Option(names = "--input", required = true, paramLabel = "FOLDER|MANIFEST", description = "Image folder, .csv or .jsonl manifest.")
    Path input;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "DIR", description = "Cache directory, created or extended.")
    Path output;

    @Option(names = "--batch-size", paramLabel = "N", description = "Images per inference call (default: 8 on cpu, 32 on cuda).")
    Integer batchSize;

    @Option(names = "--threads", paramLabel = "N", description = "Decode and preprocess threads (default: one per core).")
    Integer threads;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|cuda[:ID]",
            description = "Where to run the model (default: ${DEFAULT-VALUE}); cuda needs the gpu build and falls back to cpu with a warning.")
    String device;

    @Option(names = "--limit", defaultValue = "0", paramLabel = "N", description = "Embed only the first N images of the listing (0: all).")
    long limit;

    @Option(names = "--dtype", paramLabel = "f32|f16", description = "Vector storage for a new cache (default f32; an existing cache keeps its own).")
    String dtype;

    @Option(names = "--strict", description = "Exit with status 2 when any image could not be embedded.")
    boolean strict;

    @Option(names = "--include", paramLabel = "GLOB", description = "Only images matching a glob (repeatable); without '/' it matches file names.")
    List<String> include = new ArrayList<>();

    @Option(names = "--exclude", paramLabel = "GLOB", description = "Skip images matching a glob (repeatable).")
    List<String> exclude = new ArrayList<>();

    @Option(names = "--max-pixels", paramLabel = "N", description = "Refuse images whose header claims more pixels (default: ${DEFAULT-VALUE}).")
    long maxPixels = ImageDecoder.DEFAULT_MAX_PIXELS;

    @Option(names = "--prune", description = "Delete cached rows whose path this listing does not name, or whose listed file "
            + "cannot be read (default: keep them).")
    boolean prune;

    @Option(names = "--path-column", paramLabel = "NAME", description = "Manifest column (JSONL: field) holding the image path (default: path).")
    String pathColumn;

    @Option(names = "--labels-column", paramLabel = "NAME", description = "Manifest column holding the labels (default: labels or label, when present).")
    String labelsColumn;

    @Option(names = "--split-column", paramLabel = "NAME", description = "Manifest column holding the split (default: split, when present).")
    String splitColumn;

    @Option(names = "--label-separator", paramLabel = "TEXT", description = "Separator between labels in one cell (default: | in CSV; a JSONL string is one label).")
    String labelSeparator;

    @Option(names = "--label-columns", split = ",", paramLabel = "NAME[,NAME...]|PREFIX*",
            description = "One-hot label columns (1/0, true/false, yes/no); PREFIX* takes every column starting with PREFIX, the label being the rest of the name.")
    List<String> labelColumns = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        ExtractOptions.Builder b = ExtractOptions.builder(model, input, output)
                .device(Device.parse(device))
                .limit(limit)
                .strict(strict)
                .include(include)
                .exclude(exclude)
                .prune(prune)
                .manifest(new ManifestFormat(pathColumn, labelsColumn, splitColumn, labelSeparator, labelColumns))
                .maxPixels(maxPixels);
        if (batchSize != null) {
            b.batchSize(batchSize);
        }
        if (threads != null) {
            b.threads(threads);
        }
        if (dtype != null) {
            b.dtype(VectorDtype.parse(dtype));
        }
        ExtractSummary s;
        try (ConsoleProgress progress = new ConsoleProgress(System.err)) {
            s = Extractor.run(b.build(), progress);
        }
        s.describe().forEach(System.out::println);
        if (strict && s.failed() > 0) {
            System.err.println("error: " + s.failed() + " images could not be embedded and --strict was given; "
                    + "reasons in " + s.errorsFile());
            return 2;
        }
        return 0;
    }
}
