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
            description = "Append the embedded rows of a Parquet file or directory to a cache (created when missing). "
                    + "The Parquet footers must carry the model identity; a cache made with another model or "
                    + "preprocessing is refused. Rows with an error are counted, not imported.")
    static final class Import implements Callable<Integer> {
        @Option(names = "--input", required = true, paramLabel = "PARQUET", description = "Parquet file or directory.")
        Path input;

        @Option(names = "--cache", required = true, paramLabel = "DIR", description = "Embedding cache directory.")
        Path cache;

        @Option(names = "--strip-prefix", paramLabel = "PREFIX",
                description = "Remove this prefix from paths (e.g. file:/data/pets) so they are relative like the extractor's.")
        String stripPrefix;

        @Option(names = "--labels-from-folder",
                description = "Label rows without a labels/label column by their parent folder (ImageFolder layout).")
        boolean labelsFromFolder;

        @Override
        public Integer call() throws Exception {
            ParquetCacheBridge.ImportSummary s = ParquetCacheBridge.importInto(input, cache,
                    new ParquetCacheBridge.ImportOptions(stripPrefix, labelsFromFolder));
            System.out.println("imported " + s.imported() + " embeddings from " + s.files() + " Parquet file(s) into "
                    + cache + "; skipped " + s.errorRows() + " error rows");
            return 0;
        }
    }

    @Command(name = "export", mixinStandardHelpOptions = true,
            description = "Write every live row of a cache (path, sha256, size, labels, split, embedding) to one "
                    + "Parquet file with the model identity in its footer.")
    static final class Export implements Callable<Integer> {
        @Option(names = "--cache", required = true, paramLabel = "DIR", description = "Embedding cache directory.")
        Path cache;

        @Option(names = {"-o", "--output"}, required = true, paramLabel = "FILE", description = "New Parquet file.")
        Path output;

        @Override
        public Integer call() throws Exception {
            long n = ParquetCacheBridge.exportCache(cache, output);
            System.out.println("exported " + n + " embeddings from " + cache + " to " + output);
            return 0;
        }
    }
}
