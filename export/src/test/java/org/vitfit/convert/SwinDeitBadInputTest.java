package org.vitfit.convert;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Swin and DeiT variants vitfit does not convert are refused with a message naming the field that asks for them,
 * and nothing is left behind.
 */
class SwinDeitBadInputTest {

    @TempDir
    Path tmp;

    private String refused(Path checkpoint, String... expected) {
        Path parent = tmp.resolve("out");
        Exception e = assertThrows(IOException.class, () -> Converter.convert(checkpoint, parent.resolve("model")));
        if (Files.isDirectory(parent)) {
            try (Stream<Path> left = Files.list(parent)) {
                assertEquals(0, left.count(), "a refused conversion must leave nothing behind");
            } catch (IOException io) {
                throw new AssertionError(io);
            }
        }
        for (String s : expected) {
            assertTrue(e.getMessage().contains(s), "'" + s + "' not in: " + e.getMessage());
        }
        return e.getMessage();
    }

    private Path hfSwin() throws IOException {
        return ReferenceFixtures.copy("hf_swin", tmp.resolve("hf_swin"));
    }

    private Path timmSwin() throws IOException {
        return ReferenceFixtures.copy("timm_swin", tmp.resolve("timm_swin"));
    }

    @Test
    void swinV2IsRefusedInBothLayouts() throws IOException {
        Path hf = hfSwin();
        ReferenceFixtures.editJson(hf.resolve("config.json"), c -> c.put("model_type", "swinv2"));
        refused(hf, "model_type 'swinv2'", "Swin Transformer V2");

        Path timm = timmSwin();
        ReferenceFixtures.editJson(timm.resolve("config.json"), c -> c.put("architecture", "swinv2_tiny_window8_256"));
        refused(timm, "architecture 'swinv2_tiny_window8_256'", "V2");
    }

    @Test
    void nonSquareWindowsAreRefused() throws IOException {
        Path hf = hfSwin();
        ReferenceFixtures.editJson(hf.resolve("config.json"), c -> c.putArray("window_size").add(7).add(8));
        refused(hf, "window_size [7,8]", "square windows");

        Path timm = timmSwin();
        ReferenceFixtures.editJson(timm.resolve("config.json"),
                c -> c.with("model_args").putArray("window_size").add(7).add(8));
        refused(timm, "model_args.window_size [7,8]", "non-square");
    }

    @Test
    void poolingOtherThanTheAverageIsRefused() throws IOException {
        Path timm = timmSwin();
        ReferenceFixtures.editJson(timm.resolve("config.json"), c -> c.put("global_pool", "max"));
        refused(timm, "global_pool 'max'", "average");

        ReferenceFixtures.editJson(timm.resolve("config.json"), c -> {
            c.put("global_pool", "avg");
            c.with("model_args").put("global_pool", "");
        });
        refused(timm, "global_pool ''");

        Path deit = ReferenceFixtures.copy("timm_deit", tmp.resolve("timm_deit"));
        ReferenceFixtures.editJson(deit.resolve("config.json"), c -> c.put("global_pool", "avg"));
        refused(deit, "global_pool 'avg'", "class token");
    }

    @Test
    void absolutePositionEmbeddingsAreRefused() throws IOException {
        Path hf = hfSwin();
        ReferenceFixtures.editJson(hf.resolve("config.json"), c -> c.put("use_absolute_embeddings", true));
        refused(hf, "use_absolute_embeddings");
    }

    @Test
    void inputSizesThatWouldNeedPaddingAreRefused() throws IOException {
        Path hf = hfSwin();
        // 120 px: a 30x30 grid that 7x7 windows do not tile
        ReferenceFixtures.editJson(hf.resolve("preprocessor_config.json"), c -> c.put("size", 120));
        refused(hf, "window_size 7 does not tile the 30x30 token grid of stage 1");
        // 84 px: 21x21 tiles, but the merging after stage 1 would have to pad the odd grid
        ReferenceFixtures.editJson(hf.resolve("preprocessor_config.json"), c -> c.put("size", 84));
        refused(hf, "odd 21x21 token grid");
    }

    @Test
    void aStageSmallerThanItsWindowIsRefused() {
        // 20 px, patch 4: a 5x5 grid under a 7x7 window; transformers would clamp the window (and then fail on the
        // 7x7 bias), timm would clamp it and resize the bias table, so there is no one answer to reproduce.
        VitSpec.Swin sw = new VitSpec.Swin(16, List.of(2), List.of(2), List.of(7),
                List.of(32), 1e-5);
        VitSpec s = new VitSpec("hf_swin", "tiny", 3, 20, 20, 4, 16, 2, 2, 32, 1e-5, VitSpec.Activation.GELU, 0, false,
                false, false, false, sw);
        ConversionException e = assertThrows(ConversionException.class, () -> SwinGeometry.stages(s));
        assertTrue(e.getMessage().contains("window_size 7 does not tile the 5x5 token grid of stage 1"), e.getMessage());
    }

    @Test
    void aConfigThatDoesNotDescribeTheWeightsIsRefused() throws IOException {
        Path hf = hfSwin();
        ReferenceFixtures.editJson(hf.resolve("config.json"), c -> c.putArray("depths").add(2).add(2).add(1));
        refused(hf, "depths [2, 2, 1]", "[2, 2, 2]");

        // ViT weights under model_type swin: SwinConfig's default depths find no Swin blocks.
        Path vit = Files.createDirectories(tmp.resolve("vit-as-swin"));
        Path golden = Golden.shared().resolve("fixtures/hf-golden/vit");
        Files.copy(golden.resolve("config.json"), vit.resolve("config.json"));
        Files.copy(golden.resolve("model.safetensors"), vit.resolve("model.safetensors"));
        Files.copy(golden.resolve("processor_slow/preprocessor_config.json"), vit.resolve("preprocessor_config.json"));
        ReferenceFixtures.editJson(vit.resolve("config.json"), c -> c.put("model_type", "swin"));
        refused(vit, "depths [2, 2, 6, 2] but the checkpoint holds [] blocks per stage");

        hf = ReferenceFixtures.copy("hf_swin", tmp.resolve("heads"));
        ReferenceFixtures.editJson(hf.resolve("config.json"), c -> c.putArray("num_heads").add(2).add(4).add(4));
        refused(hf, "relative_position_bias_table", "[169, 8]");
    }

    @Test
    void aRelativePositionIndexVitfitCannotReproduceIsRefused() throws IOException {
        Path hf = hfSwin();
        String target = "swin.encoder.layers.0.blocks.1.attention.self.relative_position_index";
        ReferenceFixtures.rewriteTensors(hf, n -> n, (name, bytes) -> {
            if (name.equals(target)) {
                bytes[8] ^= 1;   // entry 1
            }
            return bytes;
        });
        refused(hf, target, "entry 1");
    }

    @Test
    void aDistillationHeadWithoutAClassTokenHeadIsRefused() throws IOException {
        Path deit = ReferenceFixtures.copy("hf_deit", tmp.resolve("hf_deit"));
        ReferenceFixtures.renameTensors(deit, n -> n.startsWith("cls_classifier.") ? null : n);
        refused(deit, "distillation_classifier", "cls_classifier");
    }
}
