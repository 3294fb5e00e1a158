package org.vitfit.cli;

import org.vitfit.spark.ParquetCacheBridge;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "parquet",
        description = {
                "Move embeddings between an embedding cache and Parquet (what 'vitfit-spark' writes on a cluster).",
                "",
                "Examples:",
                "  vitfit parquet import --input embeddings.parquet --cache target/pets-cache \\",
                "      --strip-prefix file:/data/pets --labels-from-folder",
                "  vitfit parquet export --cache target/pets-cache --output pets.parquet",
        },
        mixinStandardHelpOptions = true,
        subcommands = {ParquetCommand.Import.class, ParquetCommand.Export.class})
final class ParquetCommand implements Callable<Integer> {

    @Override
    public Integer call() {
        System.err.println("say 'vitfit parquet import' or 'vitfit parquet export' (--help for the options)");
        return 2;
    }

    @Command(name = "import", mixinStandardHelpOptions = true,
            description = {
                    "Add the embedded rows of a Parquet file or Spark output directory to a cache, all or nothing.",
                    "",
                    "The cache is created when missing. The footers must carry the model identity (a cache made with",
                    "another model or preprocessing is refused), a directory must hold _SUCCESS, page checksums must",
                    "match, and every row needs a path (once), a sha256 and a finite vector of the footer's length.",
                    "Any problem refuses the whole file, naming the rows; the cache is then unchanged. Rows with an",
                    "error are counted, not imported. Rows without labels keep the labels the cache has for them.",
            })
    static final class Import implements Callable<Integer> {
        @Option(names = "--input", required = true, paramLabel = "PARQUET", description = "Parquet file or directory.")
        Path input;

        @Option(names = "--cache", required = true, paramLabel = "DIR", description = "Embedding cache directory.")
        Path cache;

        @Option(names = "--strip-prefix", paramLabel = "PREFIX",
                description = "Remove this prefix (e.g. file:/data/pets or /data/pets) from every path, so paths are "
                        + "relative like the extractor's; a path without it is refused.")
        String stripPrefix;

        @Option(names = "--labels-from-folder",
                description = "Label rows by the top folder of their relative path (ImageFolder layout, as 'vitfit "
                        + "extract' does), for files without a labels/label column.")
        boolean labelsFromFolder;

        @Override
        public Integer call() throws Exception {
            ParquetCacheBridge.ImportSummary s = ParquetCacheBridge.importInto(input, cache,
                    new ParquetCacheBridge.ImportOptions(stripPrefix, labelsFromFolder));
            s.notes().forEach(n -> System.out.println("note: " + n));
            System.out.println("imported " + s.imported() + " embeddings (" + s.added() + " new, " + s.replaced()
                    + " replaced; " + s.unchanged() + " already there) from " + s.files() + " Parquet file(s) into "
                    + cache + "; skipped " + s.errorRows() + " error rows"
                    + (s.labelsKept() > 0 ? "; kept the cache's labels for " + s.labelsKept() + " rows the file "
                    + "gives none" : ""));
            return 0;
        }
    }

    @Command(name = "export", mixinStandardHelpOptions = true,
            description = "Write every live row of a cache (path, sha256, size, labels, split, embedding) to one "
                    + "Parquet file with the model identity in its footer (through a temporary file, fsynced and "
                    + "renamed into place).")
    static final class Export implements Callable<Integer> {
        @Option(names = "--cache", required = true, paramLabel = "DIR", description = "Embedding cache directory.")
        Path cache;

        @Option(names = {"-o", "--output"}, required = true, paramLabel = "FILE", description = "Parquet file to write.")
        Path output;

        @Option(names = "--overwrite", description = "Replace --output if it is a Parquet export vitfit wrote.")
        boolean overwrite;

        @Override
        public Integer call() throws Exception {
            long n = ParquetCacheBridge.exportCache(cache, output, overwrite);
            System.out.println("exported " + n + " embeddings from " + cache + " to " + output);
            return 0;
        }
    }
}
