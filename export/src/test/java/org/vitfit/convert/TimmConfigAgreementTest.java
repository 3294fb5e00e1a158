package org.vitfit.convert;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 11 item 6: a timm config whose architecture name or model_args contradict the weights is refused with the
 * field that disagrees, instead of building a graph with the wrong head count (vit_small over ViT-Tiny weights gave
 * 6 heads over 192 dims and embeddings off by up to 16, exit 0). The bundled ViT-Tiny weights with edited configs.
 */
class TimmConfigAgreementTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;
    Path checkpoint;
    private int copies;

    @BeforeEach
    void linkTinyVit() throws IOException {
        Path src = Golden.root().resolve("models/vit-tiny-patch16-224-augreg");
        checkpoint = Files.createDirectories(tmp.resolve("ckpt-" + copies++));
        Files.copy(src.resolve("config.json"), checkpoint.resolve("config.json"));
        Files.copy(src.resolve("imagenet_classes.txt"), checkpoint.resolve("imagenet_classes.txt"));
        Files.createSymbolicLink(checkpoint.resolve("model.safetensors"), src.resolve("model.safetensors"));
    }

    private void edit(Consumer<ObjectNode> change) throws IOException {
        ObjectNode c = (ObjectNode) JSON.readTree(checkpoint.resolve("config.json").toFile());
        change.accept(c);
        JSON.writeValue(checkpoint.resolve("config.json").toFile(), c);
    }

    private String loadFails() {
        return assertThrows(ConversionException.class, () -> Converter.load(checkpoint, Converter.Options.defaults()))
                .getMessage();
    }

    @Test
    void aSmallNameOverTinyWeightsIsRefusedNamingTheArchitecture() throws IOException {
        edit(c -> {
            c.put("architecture", "vit_small_patch16_224");
            c.remove("model_args");
        });
        String msg = loadFails();
        assertTrue(msg.startsWith(checkpoint.resolve("config.json") + ": architecture 'vit_small_patch16_224' names a "
                + "ViT-Small, 384 wide with 6 heads, but the weights are 192 wide (patch_embed.proj.weight has shape "
                + "[192, 3, 16, 16]); the name and the weights disagree."), msg);
        assertTrue(msg.contains("model_args.num_heads"), msg);
    }

    /** The first '*classes*.txt' in directory order named the classes: which one depended on the file system. */
    @Test
    void severalClassNameFilesAreRefusedListingThem() throws IOException {
        Files.writeString(checkpoint.resolve("my_classes.txt"), "cat\ndog\n");
        String msg = loadFails();
        assertEquals(checkpoint + " holds 2 class-name files (imagenet_classes.txt, my_classes.txt) and config.json "
                + "has no label_names, so which one names the head's classes is unknown; keep one of them in "
                + checkpoint + " (move the others out), or list the names under label_names in config.json", msg);
        // label_names decides, whatever files lie beside it
        java.util.List<String> names = Files.readAllLines(checkpoint.resolve("imagenet_classes.txt")).stream()
                .map(String::strip).filter(n -> !n.isEmpty()).map(n -> "label " + n).toList();
        edit(c -> names.forEach(c.putArray("label_names")::add));
        assertEquals(names, Converter.load(checkpoint, Converter.Options.defaults()).labels());
        // a folder named like a class-name file is not one
        edit(c -> c.remove("label_names"));
        Files.delete(checkpoint.resolve("my_classes.txt"));
        Files.createDirectory(checkpoint.resolve("old_classes.txt"));
        assertEquals(1000, Converter.load(checkpoint, Converter.Options.defaults()).labels().size());
    }

    @Test
    void theRightNameWithoutModelArgsStillConverts() throws IOException {
        edit(c -> c.remove("model_args"));
        VitSpec spec = Converter.load(checkpoint, Converter.Options.defaults()).parameters().spec();
        assertEquals(192, spec.hiddenSize());
        assertEquals(3, spec.numHeads());
        assertEquals(12, spec.numLayers());
    }

    @Test
    void explicitModelArgsThatFitTheWeightsOverrideTheName() throws IOException {
        // timm.create_model('vit_small_patch16_224', embed_dim=192, num_heads=3) is a ViT-Tiny: the args win.
        edit(c -> c.put("architecture", "vit_small_patch16_224"));
        assertEquals(3, Converter.load(checkpoint, Converter.Options.defaults()).parameters().spec().numHeads());
    }

    @Test
    void modelArgsThatContradictTheWeightsNameTheField() throws IOException {
        edit(c -> ((ObjectNode) c.get("model_args")).put("embed_dim", 384).put("num_heads", 6));
        assertTrue(loadFails().contains("config.json: model_args.embed_dim is 384 but the weights are 192 wide"));
        linkTinyVit();
        edit(c -> ((ObjectNode) c.get("model_args")).put("depth", 6));
        String msg = loadFails();
        assertTrue(msg.contains("model_args.depth is 6 but the checkpoint holds 12 blocks (blocks.0. to blocks.11.)"), msg);
        linkTinyVit();
        edit(c -> ((ObjectNode) c.get("model_args")).put("mlp_ratio", 2.0));
        msg = loadFails();
        assertTrue(msg.contains("model_args.mlp_ratio is 2.0 but blocks.0.mlp.fc1.weight has shape [768, 192] "
                + "(an MLP 768 wide)"), msg);
        linkTinyVit();
        edit(c -> c.put("num_features", 384));
        assertTrue(loadFails().contains("num_features is 384 but the weights are 192 wide"));
        linkTinyVit();
        edit(c -> c.put("num_classes", 10));
        msg = loadFails();
        assertTrue(msg.contains("num_classes is 10 but head.weight has shape [1000, 192]"), msg);
    }

    @Test
    void aPatchSizeInTheNameMustMatchTheWeights() throws IOException {
        edit(c -> {
            c.put("architecture", "vit_tiny_patch8_224");
            ((ObjectNode) c.get("model_args")).remove("patch_size");
        });
        String msg = loadFails();
        assertTrue(msg.contains("architecture 'vit_tiny_patch8_224' names patch size 8, but patch_embed.proj.weight "
                + "has shape [192, 3, 16, 16]"), msg);
    }

    @Test
    void anInputSizeTheWeightsWereNotTrainedAtSaysWhichFieldToFix() throws IOException {
        // the message used to advise an option '--image-size' that convert does not have
        edit(c -> ((ObjectNode) c.get("pretrained_cfg")).putArray("input_size").add(3).add(320).add(320));
        String msg = loadFails();
        assertTrue(msg.contains("holds 197 positions but a 320x320 input with patch 16 needs 401; the input size comes "
                + "from the preprocessing (timm: pretrained_cfg.input_size in config.json;"), msg);
        assertTrue(msg.endsWith("set it to the size the checkpoint was trained at, 224x224"), msg);
    }
}
