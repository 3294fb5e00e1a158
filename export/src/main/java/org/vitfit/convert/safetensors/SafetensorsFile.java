package org.vitfit.convert.safetensors;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One {@code .safetensors} file: an 8-byte little-endian header length, a JSON header naming every tensor's dtype,
 * shape and byte range, then the tensor bytes. The header is validated completely on open, to the same rules as the
 * reference Rust implementation (tensors tile the data section exactly), so that reading a tensor afterwards cannot
 * run past the file or misinterpret bytes. Tensor data is memory-mapped on demand.
 */
public final class SafetensorsFile implements AutoCloseable {

    /** Real headers are tens of kilobytes; anything this large is corruption, and must not be allocated. */
    static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    /** Mapping in chunks keeps each {@link java.nio.MappedByteBuffer} under its 2 GiB limit. */
    private static final int MAP_CHUNK_BYTES = 1 << 30;

    private static final String METADATA_KEY = "__metadata__";

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private final Path path;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, FileChannel channel, long dataStart,
                            Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.path = path;
        this.channel = channel;
        this.dataStart = dataStart;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Opens and validates {@code file}; the file stays open (for mapping tensors) until {@link #close()}. */
    public static SafetensorsFile open(Path file) throws CheckpointException, IOException {
        FileChannel channel;
        try {
            channel = FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(file, null, "no such file; check the path", e);
        }
        try {
            return parse(file, channel);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    private static SafetensorsFile parse(Path file, FileChannel channel) throws IOException {
        long fileSize = channel.size();
        if (fileSize < 8) {
            throw new CheckpointException(file, null, "file is " + fileSize
                    + " bytes, shorter than the 8-byte header length; the file is truncated or not a safetensors file"
                    + " - download it again");
        }
        ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(channel, lengthBytes, 0);
        long headerLength = lengthBytes.getLong(0);
        // Unsigned u64: a negative long is a length beyond 2^63, certainly absurd.
        if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
            throw new CheckpointException(file, null, "header length field says " + Long.toUnsignedString(headerLength)
                    + " bytes, more than the " + MAX_HEADER_BYTES + " a real header can have; the file is corrupt or not"
                    + " a safetensors file - download it again");
        }
        if (headerLength > fileSize - 8) {
            throw new CheckpointException(file, null, "header length field says " + headerLength
                    + " bytes but only " + (fileSize - 8) + " follow it; the file is truncated - download it again");
        }
        if (headerLength == 0) {
            throw new CheckpointException(file, null, "header is empty; the file is corrupt - download it again");
        }
        ByteBuffer headerBytes = ByteBuffer.allocate((int) headerLength);
        readFully(channel, headerBytes, 8);

        JsonNode header;
        try {
            header = JSON.readTree(headerBytes.array());
        } catch (JsonProcessingException e) {
            String where = e.getLocation() == null ? ""
                    : " at header byte " + e.getLocation().getByteOffset();
            throw new CheckpointException(file, null, "header is not valid JSON" + where + " (" + e.getOriginalMessage()
                    + "); the file is corrupt - download it again", e);
        } catch (IOException e) {
            throw new CheckpointException(file, null, "header is not valid JSON (" + e.getMessage()
                    + "); the file is corrupt - download it again", e);
        }
        if (header == null || !header.isObject()) {
            throw new CheckpointException(file, null, "header is not a JSON object; the file is corrupt - download it again");
        }

        long dataStart = 8 + headerLength;
        long dataLength = fileSize - dataStart;
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = Map.of();
        for (Map.Entry<String, JsonNode> field : header.properties()) {
            if (field.getKey().equals(METADATA_KEY)) {
                metadata = parseMetadata(file, field.getValue());
            } else {
                TensorInfo info = parseEntry(file, field.getKey(), field.getValue(), dataLength);
                tensors.put(info.name(), info);
            }
        }
        checkTiling(file, tensors.values(), dataLength);
        return new SafetensorsFile(file, channel, dataStart, Collections.unmodifiableMap(tensors), metadata);
    }

    private static Map<String, String> parseMetadata(Path file, JsonNode node) throws CheckpointException {
        if (!node.isObject()) {
            throw new CheckpointException(file, null, METADATA_KEY + " must be an object of strings but is "
                    + node.getNodeType() + "; the file is corrupt - download it again");
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            if (!e.getValue().isTextual()) {
                throw new CheckpointException(file, null, METADATA_KEY + " value '" + e.getKey()
                        + "' must be a string but is " + e.getValue().getNodeType()
                        + "; the file is corrupt - download it again");
            }
            metadata.put(e.getKey(), e.getValue().textValue());
        }
        return Collections.unmodifiableMap(metadata);
    }

    private static TensorInfo parseEntry(Path file, String name, JsonNode entry, long dataLength)
            throws CheckpointException {
        String fix = "; the file is corrupt - download it again";
        if (!entry.isObject()) {
            throw new CheckpointException(file, name, "header entry must be an object but is " + entry.getNodeType() + fix);
        }
        JsonNode dtypeNode = entry.get("dtype");
        JsonNode shapeNode = entry.get("shape");
        JsonNode offsetsNode = entry.get("data_offsets");
        if (dtypeNode == null || shapeNode == null || offsetsNode == null) {
            throw new CheckpointException(file, name, "header entry lacks "
                    + (dtypeNode == null ? "dtype" : shapeNode == null ? "shape" : "data_offsets") + fix);
        }
        if (!dtypeNode.isTextual()) {
            throw new CheckpointException(file, name, "dtype must be a string but is " + dtypeNode.getNodeType() + fix);
        }
        String dtype = dtypeNode.textValue();
        int elementSize = Dtypes.sizeOf(dtype);
        if (elementSize < 0) {
            throw new CheckpointException(file, name, "unsupported dtype '" + dtype
                    + "'; vitfit reads F32, F16 and BF16 weights - save the checkpoint in one of those"
                    + " (e.g. model.to(torch.float32) before save_pretrained)");
        }
        if (!shapeNode.isArray()) {
            throw new CheckpointException(file, name, "shape must be an array but is " + shapeNode.getNodeType() + fix);
        }
        long[] shape = new long[shapeNode.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = nonNegativeLong(file, name, "shape[" + i + "]", shapeNode.get(i));
            try {
                numel = Math.multiplyExact(numel, shape[i]);
            } catch (ArithmeticException e) {
                throw new CheckpointException(file, name, "shape " + shapeNode + " overflows a 64-bit element count" + fix);
            }
        }
        if (!offsetsNode.isArray() || offsetsNode.size() != 2) {
            throw new CheckpointException(file, name, "data_offsets must be an array [begin, end] but is "
                    + offsetsNode + fix);
        }
        long begin = nonNegativeLong(file, name, "data_offsets[0]", offsetsNode.get(0));
        long end = nonNegativeLong(file, name, "data_offsets[1]", offsetsNode.get(1));
        if (begin > end) {
            throw new CheckpointException(file, name, "data_offsets [" + begin + ", " + end + "] begin after end" + fix);
        }
        if (end > dataLength) {
            throw new CheckpointException(file, name, "data_offsets end " + end + " is past the data section ("
                    + dataLength + " bytes); the file is truncated - download it again");
        }
        long expectedBytes;
        try {
            expectedBytes = Math.multiplyExact(numel, elementSize);
        } catch (ArithmeticException e) {
            throw new CheckpointException(file, name, "shape " + shapeNode + " of " + dtype + " overflows a 64-bit byte count" + fix);
        }
        if (end - begin != expectedBytes) {
            throw new CheckpointException(file, name, "data_offsets [" + begin + ", " + end + "] span " + (end - begin)
                    + " bytes but shape " + shapeNode + " of " + dtype + " needs " + expectedBytes + fix);
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static long nonNegativeLong(Path file, String tensor, String what, JsonNode node) throws CheckpointException {
        if (node == null || !node.isIntegralNumber() || !node.canConvertToLong() || node.longValue() < 0) {
            throw new CheckpointException(file, tensor, what + " must be a non-negative integer but is " + node
                    + "; the file is corrupt - download it again");
        }
        return node.longValue();
    }

    /** The reference implementation requires the tensors to cover the data section exactly, without overlap or gaps. */
    private static void checkTiling(Path file, Iterable<TensorInfo> infos, long dataLength) throws CheckpointException {
        List<TensorInfo> byOffset = new ArrayList<>();
        infos.forEach(byOffset::add);
        byOffset.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        long covered = 0;
        TensorInfo previous = null;
        for (TensorInfo t : byOffset) {
            if (t.begin() < covered) {
                throw new CheckpointException(file, t.name(), "bytes [" + t.begin() + ", " + t.end() + ") overlap tensor '"
                        + previous.name() + "' [" + previous.begin() + ", " + previous.end()
                        + "); the file is corrupt - download it again");
            }
            if (t.begin() > covered) {
                throw new CheckpointException(file, t.name(), "starts at byte " + t.begin() + " but the previous tensor ends at "
                        + covered + "; a gap is not allowed in safetensors - the file is corrupt, download it again");
            }
            covered = t.end();
            previous = t;
        }
        if (covered != dataLength) {
            throw new CheckpointException(file, null, "the tensors cover " + covered + " bytes of a " + dataLength
                    + "-byte data section; the file has trailing bytes or is corrupt - download it again");
        }
    }

    private static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, position + buffer.position());
            if (n < 0) {
                throw new IOException("unexpected end of file at byte " + (position + buffer.position()));
            }
        }
    }

    /** The tensors in header order; {@code __metadata__} is not among them. */
    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    /** The {@code __metadata__} strings, or an empty map. */
    public Map<String, String> metadata() {
        return metadata;
    }

    public Path path() {
        return path;
    }

    /** File offset of the data section, which the tensors' begin/end are relative to. */
    public long dataStart() {
        return dataStart;
    }

    /** The tensor's entry, or an exception naming this file and the tensor. */
    public TensorInfo info(String name) throws CheckpointException {
        TensorInfo info = tensors.get(name);
        if (info == null) {
            throw new CheckpointException(path, name, "no such tensor in this file (it has " + tensors.size() + ")");
        }
        return info;
    }

    /**
     * The tensor's elements in row-major order as float32. F16 and BF16 values are widened exactly (every half and
     * bfloat16 value, subnormals, infinities and NaN included, is a float32 value).
     */
    public float[] readFloats(String name) throws CheckpointException {
        TensorInfo info = info(name);
        if (!info.isFloat()) {
            throw new CheckpointException(path, name, "dtype " + info.dtype()
                    + " is not a float dtype; only F32, F16 and BF16 tensors can be read as weights");
        }
        long numel = info.numel();
        if (numel > Integer.MAX_VALUE - 8) {
            throw new CheckpointException(path, name, numel + " elements do not fit in one Java array");
        }
        float[] out = new float[(int) numel];
        int elementSize = Dtypes.sizeOf(info.dtype());
        long chunkElements = MAP_CHUNK_BYTES / elementSize;
        for (long first = 0; first < numel; first += chunkElements) {
            int count = (int) Math.min(chunkElements, numel - first);
            ByteBuffer bytes = map(info, info.begin() + first * elementSize, (long) count * elementSize);
            switch (info.dtype()) {
                case "F32" -> {
                    FloatBuffer floats = bytes.asFloatBuffer();
                    floats.get(out, (int) first, count);
                }
                case "F16" -> {
                    ShortBuffer halves = bytes.asShortBuffer();
                    for (int i = 0; i < count; i++) {
                        out[(int) first + i] = Dtypes.halfToFloat(halves.get(i));
                    }
                }
                case "BF16" -> {
                    ShortBuffer halves = bytes.asShortBuffer();
                    for (int i = 0; i < count; i++) {
                        out[(int) first + i] = Dtypes.bfloat16ToFloat(halves.get(i));
                    }
                }
                default -> throw new IllegalStateException("isFloat() admitted dtype " + info.dtype());
            }
        }
        return out;
    }

    /** The tensor's raw little-endian bytes, read-only and memory-mapped (for copying weights verbatim). */
    public ByteBuffer rawBytes(String name) throws CheckpointException {
        TensorInfo info = info(name);
        if (info.byteSize() > Integer.MAX_VALUE) {
            throw new CheckpointException(path, name, info.byteSize() + " bytes do not fit in one buffer; use readFloats");
        }
        return map(info, info.begin(), info.byteSize());
    }

    private ByteBuffer map(TensorInfo info, long relativeOffset, long length) throws CheckpointException {
        try {
            // A file truncated after open would make the mapping fault on access, which Java reports as an Error.
            long size = channel.size();
            if (dataStart + info.end() > size) {
                throw new CheckpointException(path, info.name(), "the file shrank to " + size
                        + " bytes after it was opened; it is being rewritten - retry when the download has finished");
            }
            return channel.map(FileChannel.MapMode.READ_ONLY, dataStart + relativeOffset, length)
                    .order(ByteOrder.LITTLE_ENDIAN);
        } catch (CheckpointException e) {
            throw e;
        } catch (IOException e) {
            throw new CheckpointException(path, info.name(), "cannot read the tensor's bytes: " + e, e);
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
