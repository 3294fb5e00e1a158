package org.vitfit.finetune.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.vitfit.convert.Converter;
import org.vitfit.eval.ClassificationReport;
import org.vitfit.finetune.FinetuneOptions;
import org.vitfit.finetune.LoraConfig;
import org.vitfit.finetune.Finetuner;
import org.vitfit.finetune.LrSchedule;
import org.vitfit.heads.EmbeddingSet;
import org.vitfit.heads.HeadKind;
import org.vitfit.heads.HeadTrainer;
import org.vitfit.heads.TrainingRun;
import org.vitfit.io.Durable;
import org.vitfit.io.OutputKind;
import org.vitfit.io.SafeOutput;
import org.vitfit.onnx.Device;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.runtime.VitModel;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;

/**
 * CIFAR-10: frozen-backbone heads (linear, MLP) against fine-tuning the bundled ViT-Tiny three ways (the last two
 * blocks with cached frozen layers, LoRA r = 8, everything) on the same seeded subset. Not a test (it runs for tens
 * of minutes on a CPU); run it with finetune/bench/run.sh.
 *
 * <p>Arguments: WORK_DIR [PER_CLASS_TRAIN=200] [PER_CLASS_TEST=100] [EPOCHS=3] [SEED=0]
 * [VARIANTS=frozen,blocks2,lora8,full]. Per class, PER_CLASS_TRAIN images are used for training (a tenth of them
 * held out as validation for early stopping and head selection) and PER_CLASS_TEST others for the test figures;
 * all drawn from the CIFAR-10 training archive.
 */
public final class Cifar10Benchmark {

    public static void main(String[] args) throws Exception {
        Path work = Path.of(args[0]).toAbsolutePath();
        int perClassTrain = args.length > 1 ? Integer.parseInt(args[1]) : 200;
        int perClassTest = args.length > 2 ? Integer.parseInt(args[2]) : 100;
        int epochs = args.length > 3 ? Integer.parseInt(args[3]) : 3;
        long seed = args.length > 4 ? Long.parseLong(args[4]) : 0;
        Set<String> variants = Set.of((args.length > 5 ? args[5] : "frozen,blocks2,lora8,full").split(","));
        Path shared = Path.of(System.getProperty("vitfit.shared", "../shared")).toAbsolutePath();
        Path root = Path.of(System.getProperty("vitfit.root", ".")).toAbsolutePath();
        Files.createDirectories(work);

        Path images = work.resolve("images");
        if (!Files.isDirectory(images.resolve("train"))) {
            Files.createDirectories(images);
            Process tar = new ProcessBuilder("tar", "-xzf", shared.resolve("datasets/cifar10-train.tar.gz").toString(),
                    "-C", images.toString()).inheritIO().start();
            if (tar.waitFor() != 0) {
                throw new IOException("extracting CIFAR-10 failed");
            }
        }
        Path model = work.resolve("vit-tiny");
        if (!Files.exists(model.resolve("model.onnx"))) {
            Converter.convert(root.resolve("models/vit-tiny-patch16-224-augreg"), model);
        }

        // seeded per-class subset: train (a tenth of it validation) and test, disjoint
        List<String> paths = new ArrayList<>();
        List<String> labels = new ArrayList<>();
        List<String> splits = new ArrayList<>();
        Random r = new Random(seed);
        List<Path> classDirs;
        try (Stream<Path> s = Files.list(images.resolve("train"))) {
            classDirs = s.filter(Files::isDirectory).sorted().toList();
        }
        for (Path dir : classDirs) {
            List<Path> files;
            try (Stream<Path> s = Files.list(dir)) {
                files = new ArrayList<>(s.sorted().toList());
            }
            Collections.shuffle(files, r);
            int val = perClassTrain / 10;
            for (int i = 0; i < perClassTrain + perClassTest; i++) {
                paths.add(files.get(i).toString());
                labels.add(dir.getFileName().toString());
                splits.add(i < val ? "val" : i < perClassTrain ? "train" : "test");
            }
        }
        Path manifest = work.resolve("manifest.csv");
        StringBuilder csv = new StringBuilder("path,labels,split\n");
        for (int i = 0; i < paths.size(); i++) {
            csv.append(paths.get(i)).append(',').append(labels.get(i)).append(',').append(splits.get(i)).append('\n');
        }
        Files.writeString(manifest, csv);

        ObjectNode results = new ObjectMapper().createObjectNode();
        results.put("date", Instant.now().toString());
        results.put("machine", Runtime.getRuntime().availableProcessors() + " cores, " + cpuName() + ", Java "
                + System.getProperty("java.version"));
        results.put("trainImages", perClassTrain * classDirs.size() * 9 / 10);
        results.put("valImages", perClassTrain * classDirs.size() / 10);
        results.put("testImages", perClassTest * classDirs.size());
        results.put("seed", seed);

        if (variants.contains("frozen")) {
            // frozen backbone: embeddings once, then the head trainer's linear and MLP heads
            long t0 = System.nanoTime();
            float[] data;
            int dim;
            try (VitModel vit = VitModel.open(model, Device.CPU, 0)) {
                dim = vit.descriptor().embeddingDim();
                data = new float[paths.size() * dim];
                ImageDecoder decoder = ImageDecoder.forRecipe(vit.preprocessor().recipe());
                for (int from = 0; from < paths.size(); from += 64) {
                    int n = Math.min(64, paths.size() - from);
                    List<BufferedImage> batch = new ArrayList<>();
                    for (int i = from; i < from + n; i++) {
                        batch.add(decoder.decode(Path.of(paths.get(i))));
                    }
                    float[][] emb = vit.run(batch, Set.of("embedding")).get("embedding");
                    for (int i = 0; i < n; i++) {
                        System.arraycopy(emb[i], 0, data, (from + i) * dim, dim);
                    }
                }
            }
            double embedSeconds = (System.nanoTime() - t0) / 1e9;
            System.out.printf(Locale.ROOT, "embedded %d images in %.1f s%n", paths.size(), embedSeconds);
            results.put("frozenEmbeddingSeconds", embedSeconds);
            List<List<String>> labelLists = labels.stream().map(List::of).toList();
            EmbeddingSet set = new EmbeddingSet(data, dim, labelLists, splits, paths, null, "cifar10 subset");
            double bestVal = -1;
            for (HeadKind kind : HeadKind.values()) {
                TrainingRun run = HeadTrainer.builder().head(kind).seed(seed).build().train(set);
                double val = ((ClassificationReport) run.validation()).accuracy();
                double test = ((ClassificationReport) run.test()).accuracy();
                System.out.printf(Locale.ROOT, "frozen %s head: val accuracy %.4f, test accuracy %.4f (%.1f s)%n",
                        kind, val, test, run.trainSeconds());
                ObjectNode h = results.putObject("frozen_" + kind.toString().toLowerCase(Locale.ROOT));
                h.put("valAccuracy", val);
                h.put("testAccuracy", test);
                h.put("trainSeconds", run.trainSeconds());
                if (val > bestVal) {
                    bestVal = val;
                    results.put("bestFrozenHead", kind.toString());
                    results.put("bestFrozenTestAccuracy", test);
                }
            }
        }

        // fine-tuning: peak learning rates 20x apart (backbone / classifier) for full fine-tuning, higher for fewer
        // trainable weights; batch 32, AdamW, warm-up 10 % then cosine, clipping at 1, patience 2
        record Variant(String key, String name, int trainBlocks, LoraConfig lora, double lrBackbone, boolean augment) {
        }
        List<Variant> runs = List.of(
                new Variant("blocks2", "last 2 blocks, frozen layers cached (no augmentation)", 2, null, 1e-4, false),
                new Variant("lora8", "LoRA r=8 alpha=16 on qkv,proj,fc1,fc2", FinetuneOptions.ALL_BLOCKS,
                        new LoraConfig(8, 16, EnumSet.allOf(LoraConfig.Target.class)), 1e-3, true),
                new Variant("full", "full fine-tuning", FinetuneOptions.ALL_BLOCKS, null, 5e-5, true));
        for (Variant v : runs) {
            if (!variants.contains(v.key())) {
                continue;
            }
            FinetuneOptions o = new FinetuneOptions(epochs, 32, v.lrBackbone(), 1e-3, 0.05, 0.1, LrSchedule.COSINE,
                    1.0, seed, 2, 0.1, v.augment(), 0.5, false, v.trainBlocks(), v.lora(), Device.CPU, 0, true);
            // a fresh run every time: an earlier run's checkpoint would otherwise be resumed (or found finished)
            Path state = work.resolve("finetuned-" + v.key() + Finetuner.STATE_SUFFIX);
            if (SafeOutput.isOurs(state, OutputKind.FINETUNE_STATE)) {
                Durable.deleteTree(state);
            }
            long start = System.nanoTime();
            Finetuner.Result ft = Finetuner.run(model, manifest, work.resolve("finetuned-" + v.key()), o, System.out);
            double seconds = (System.nanoTime() - start) / 1e9;
            ObjectNode f = results.putObject("finetune_" + v.key());
            f.put("what", v.name());
            f.set("options", new ObjectMapper().valueToTree(o));
            f.put("valAccuracy", ft.validationScore());
            f.put("testAccuracy", ft.testScore());
            f.put("bestEpoch", ft.bestEpoch());
            f.put("wallSeconds", seconds);
            f.set("history", new ObjectMapper().valueToTree(ft.history()));
            results.put("device", ft.device());
            System.out.printf(Locale.ROOT, "%s: val accuracy %.4f, test accuracy %.4f, %.0f s%n", v.name(),
                    ft.validationScore(), ft.testScore(), seconds);
        }
        Files.writeString(work.resolve("results.json"),
                new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(results));
        System.out.println(results.toPrettyString());
    }

    private static String cpuName() throws IOException {
        Path info = Path.of("/proc/cpuinfo");
        if (Files.exists(info)) {
            for (String line : Files.readAllLines(info)) {
                if (line.startsWith("model name")) {
                    return line.substring(line.indexOf(':') + 1).trim();
                }
            }
        }
        return System.getProperty("os.arch");
    }

    private Cifar10Benchmark() {
    }
}
