package org.vitfit.spark;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;
import org.vitfit.convert.Converter;
import org.vitfit.onnx.Device;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.runtime.VitModel;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A converted Swin Transformer embeds on Spark exactly as on one machine. */
class SwinEmbedTest {

    @Test
    void swinEmbeddingsOnSparkEqualTheRuntimes() throws Exception {
        Fixtures f = Fixtures.get();
        Path root = Path.of(System.getProperty("vitfit.root", "."));
        Path model = f.work.resolve("swin");
        Converter.convert(root.resolve("export/src/test/resources/reference/timm_swin"), model);

        List<Path> photos = new ArrayList<>();
        for (String breed : List.of("Bombay", "pug")) {
            try (Stream<Path> s = Files.list(f.images.resolve(breed))) {
                s.filter(p -> p.toString().endsWith(".jpg")).sorted().limit(3).forEach(photos::add);
            }
        }
        Dataset<Row> df = f.spark.createDataset(photos.stream().map(Path::toString).toList(), Encoders.STRING())
                .toDF(VitfitSpark.PATH);
        Map<String, Row> byPath = new HashMap<>();
        VitfitSpark.embed(df, model, EmbedOptions.defaults()).collectAsList()
                .forEach(r -> byPath.put(r.getAs(VitfitSpark.PATH), r));

        try (VitModel vit = VitModel.open(model, Device.CPU, 1)) {
            ImageDecoder decoder = ImageDecoder.forRecipe(vit.descriptor().preprocessing());
            List<BufferedImage> decoded = new ArrayList<>();
            for (Path p : photos) {
                decoded.add(decoder.decode(p));
            }
            float[][] expected = vit.run(decoded, Set.of("embedding")).get("embedding");
            double worst = 0;
            for (int i = 0; i < photos.size(); i++) {
                Row r = byPath.get(photos.get(i).toString());
                assertNull(r.getAs(VitfitSpark.ERROR), photos.get(i).toString());
                List<Float> e = r.getList(r.fieldIndex(VitfitSpark.EMBEDDING));
                assertEquals(64, e.size());
                for (int j = 0; j < 64; j++) {
                    worst = Math.max(worst, Math.abs(expected[i][j] - e.get(j)));
                }
            }
            System.out.println("Swin on Spark vs VitModel, 6 pets: max |difference| " + worst);
            assertTrue(worst <= 1e-6, "max difference " + worst);
        }
    }
}
