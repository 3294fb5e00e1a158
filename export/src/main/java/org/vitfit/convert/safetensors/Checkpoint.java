package org.vitfit.convert.safetensors;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.vitfit.runtime.Hashing;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The weights of a checkpoint directory: either one {@code model.safetensors}, or a
 * {@code model.safetensors.index.json} whose {@code weight_map} assigns each tensor to a shard file in the same
 * directory (the layout {@code save_pretrained} writes for large models).
 */
public final class Checkpoint implements AutoCloseable {

    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private static final ObjectMapper JSON = new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    private final Path dir;
    private final List<SafetensorsFile> files;
    private final Map<String, SafetensorsFile> owners;
    private volatile String weightsSha256;

    private Checkpoint(Path dir, List<SafetensorsFile> files, Map<String, SafetensorsFile> owners) {
        this.dir = dir;
        this.files = files;
        this.owners = owners;
    }

    /**
     * Opens the checkpoint in {@code location}: a directory holding {@value #SINGLE_FILE} (preferred, as
     * transformers does) or {@value #INDEX_FILE} plus its shards; or directly a {@code .safetensors} file or an
     * index file.
     */
    public static Checkpoint open(Path location) throws CheckpointException, IOException {
        if (Files.isRegularFile(location)) {
            Path parent = location.toAbsolutePath().getParent();
            return location.getFileName().toString().endsWith(".index.json")
                    ? openSharded(parent, location) : openSingle(parent, location);
        }
        if (!Files.isDirectory(location)) {
            throw new CheckpointException(location, null, "no such checkpoint directory or file; check the path");
        }
        Path single = location.resolve(SINGLE_FILE);
        if (Files.isRegularFile(single)) {
            return openSingle(location, single);
        }
        Path index = location.resolve(INDEX_FILE);
        if (Files.isRegularFile(index)) {
            return openSharded(location, index);
        }
        String present;
        try (Stream<Path> list = Files.list(location)) {
            present = list.map(p -> p.getFileName().toString()).sorted().limit(20).collect(Collectors.joining(", "));
        }
        String hint = present.contains(".bin") || present.contains(".pth") || present.contains(".pt")
                ? "; PyTorch pickle weights are not read (they can run code) - convert them with"
                + " safetensors.torch.save_file or save_pretrained(safe_serialization=True)"
                : "; point at a Hugging Face or timm checkpoint directory";
        throw new CheckpointException(location, null, "neither " + SINGLE_FILE + " nor " + INDEX_FILE
                + " found (directory holds: " + (present.isEmpty() ? "nothing" : present) + ")" + hint);
    }

    private static Checkpoint openSingle(Path dir, Path file) throws IOException {
        SafetensorsFile sf = SafetensorsFile.open(file);
        Map<String, SafetensorsFile> owners = new TreeMap<>();
        for (String name : sf.tensors().keySet()) {
            owners.put(name, sf);
        }
        return new Checkpoint(dir, List.of(sf), Collections.unmodifiableMap(owners));
    }

    private static Checkpoint openSharded(Path dir, Path index) throws IOException {
        Map<String, String> weightMap = readWeightMap(index);
        Map<String, SafetensorsFile> shards = new TreeMap<>();
        try {
            Map<String, SafetensorsFile> owners = new TreeMap<>();
            for (Map.Entry<String, String> e : weightMap.entrySet()) {
                SafetensorsFile shard = shards.get(e.getValue());
                if (shard == null) {
                    Path shardPath = resolveShard(dir, index, e.getKey(), e.getValue());
                    shard = SafetensorsFile.open(shardPath);
                    shards.put(e.getValue(), shard);
                }
                if (!shard.tensors().containsKey(e.getKey())) {
                    throw new CheckpointException(shard.path(), e.getKey(), "listed in the weight_map of " + index
                            + " but missing from this shard; the shard and the index come from different revisions"
                            + " or a download is incomplete - download the checkpoint again");
                }
                owners.put(e.getKey(), shard);
            }
            return new Checkpoint(dir, List.copyOf(shards.values()), Collections.unmodifiableMap(owners));
        } catch (IOException | RuntimeException e) {
            for (SafetensorsFile shard : shards.values()) {
                try {
                    shard.close();
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    private static Map<String, String> readWeightMap(Path index) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(index.toFile());
        } catch (IOException e) {
            throw new CheckpointException(index, null, "not valid JSON (" + e.getMessage()
                    + "); download the index file again", e);
        }
        JsonNode weightMap = root == null ? null : root.get("weight_map");
        if (weightMap == null || !weightMap.isObject() || weightMap.isEmpty()) {
            throw new CheckpointException(index, null, "has no non-empty \"weight_map\" object mapping tensor names to"
                    + " shard files; download the index file again");
        }
        Map<String, String> map = new TreeMap<>();
        for (Map.Entry<String, JsonNode> e : weightMap.properties()) {
            if (!e.getValue().isTextual()) {
                throw new CheckpointException(index, e.getKey(), "weight_map value must be a shard file name but is "
                        + e.getValue() + "; download the index file again");
            }
            map.put(e.getKey(), e.getValue().textValue());
        }
        return map;
    }

    /** Shards must be plain files beside the index: a crafted index must not make us open files elsewhere. */
    private static Path resolveShard(Path dir, Path index, String tensor, String shardName) throws CheckpointException {
        Path shard = dir.resolve(shardName).normalize();
        if (shardName.isEmpty() || !dir.normalize().equals(shard.getParent())) {
            throw new CheckpointException(index, tensor, "weight_map names shard '" + shardName
                    + "', which is not a file name in " + dir + "; the index is corrupt - download it again");
        }
        if (!Files.isRegularFile(shard)) {
            throw new CheckpointException(shard, tensor, "shard named in the weight_map of " + index
                    + " is missing; download all shards of the checkpoint");
        }
        return shard;
    }

    /** The directory the checkpoint was opened from. */
    public Path dir() {
        return dir;
    }

    /** All tensor names, sorted. */
    public Set<String> names() {
        return owners.keySet();
    }

    /** The tensor's header entry; a missing name is an error naming the directory, the tensor and a near match. */
    public TensorInfo info(String name) throws CheckpointException {
        SafetensorsFile owner = owners.get(name);
        if (owner == null) {
            String nearest = nearestName(name);
            throw new CheckpointException(dir, name, "no such tensor in the checkpoint (" + owners.size() + " tensors"
                    + (nearest == null ? "" : "; nearest name is '" + nearest + "'")
                    + "); the checkpoint is not the architecture it claims or is from an unsupported layout");
        }
        return owner.info(name);
    }

    public long[] shape(String name) throws CheckpointException {
        return info(name).shape();
    }

    /** The tensor as float32, row-major; F16 and BF16 widened exactly. */
    public float[] floats(String name) throws CheckpointException {
        info(name);
        return owners.get(name).readFloats(name);
    }

    /** The tensor's raw little-endian bytes, memory-mapped and read-only. */
    public ByteBuffer rawBytes(String name) throws CheckpointException {
        info(name);
        return owners.get(name).rawBytes(name);
    }

    /** The weight files: the single file, or the shards sorted by file name. */
    public List<Path> files() {
        return files.stream().map(SafetensorsFile::path).toList();
    }

    /**
     * Identity of the weights: the sha256 (lowercase hex) of the single weight file, or for a sharded checkpoint
     * the sha256 of the ASCII concatenation of each shard's sha256 hex, in shard file-name order.
     * Computed once (it reads every byte) and cached.
     */
    public String weightsSha256() throws IOException {
        String cached = weightsSha256;
        if (cached == null) {
            synchronized (this) {
                cached = weightsSha256;
                if (cached == null) {
                    cached = computeWeightsSha256();
                    weightsSha256 = cached;
                }
            }
        }
        return cached;
    }

    private String computeWeightsSha256() throws IOException {
        List<String> shardHashes = new ArrayList<>();
        for (SafetensorsFile f : files) {
            shardHashes.add(Hashing.sha256(f.path()));
        }
        if (shardHashes.size() == 1) {
            return shardHashes.get(0);
        }
        return Hashing.sha256(String.join("", shardHashes).getBytes(StandardCharsets.US_ASCII));
    }

    private String nearestName(String wanted) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String candidate : owners.keySet()) {
            int d = editDistance(wanted, candidate);
            if (d < bestDistance) {
                bestDistance = d;
                best = candidate;
            }
        }
        return best != null && bestDistance <= Math.max(3, wanted.length() / 3) ? best : null;
    }

    private static int editDistance(String a, String b) {
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int substitution = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                current[j] = Math.min(substitution, Math.min(previous[j], current[j - 1]) + 1);
            }
            int[] swap = previous;
            previous = current;
            current = swap;
        }
        return previous[b.length()];
    }

    @Override
    public void close() throws IOException {
        IOException first = null;
        for (SafetensorsFile f : files) {
            try {
                f.close();
            } catch (IOException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
