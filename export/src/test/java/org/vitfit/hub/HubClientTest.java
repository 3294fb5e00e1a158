package org.vitfit.hub;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.convert.safetensors.Checkpoint;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

class HubClientTest {

    private static final Path GOLDEN_VIT = Path.of(System.getProperty("vitfit.shared"), "fixtures/hf-golden/vit");
    private static final String REPO = "tiny-org/tiny-vit";
    private static final String MAIN = "1111111111111111111111111111111111111111";
    private static final String V1 = "2222222222222222222222222222222222222222";
    private static final String SHARDED = "3333333333333333333333333333333333333333";

    @TempDir
    Path tmp;

    private FakeHub hub;
    private Path cache;
    private byte[] config;
    private byte[] preprocessor;
    private byte[] weights;

    @BeforeEach
    void startHub() throws IOException {
        hub = new FakeHub();
        cache = tmp.resolve("cache");
        config = Files.readAllBytes(GOLDEN_VIT.resolve("config.json"));
        preprocessor = Files.readAllBytes(GOLDEN_VIT.resolve("processor_slow/preprocessor_config.json"));
        weights = Files.readAllBytes(GOLDEN_VIT.resolve("model.safetensors"));
        hub.commit(REPO, "main", MAIN, Map.of("config.json", config, "preprocessor_config.json", preprocessor,
                "model.safetensors", weights, "README.md", "# tiny".getBytes(StandardCharsets.UTF_8)));
    }

    @AfterEach
    void stopHub() {
        hub.close();
    }

    private HubClient.Builder client() {
        return HubClient.builder().endpoint(hub.url()).cacheDir(cache).environment(Map.of())
                .readTimeout(Duration.ofSeconds(5)).retryDelay(Duration.ofMillis(10));
    }

    private Path repoDir() {
        return cache.resolve("models--tiny-org--tiny-vit");
    }

    @Test
    void downloadsIntoTheHuggingFaceCacheLayout() throws IOException {
        Path snapshot = client().token("hf_secret").build().snapshot(REPO);

        assertEquals(repoDir().resolve("snapshots").resolve(MAIN), snapshot);
        assertArrayEquals(config, Files.readAllBytes(snapshot.resolve("config.json")));
        assertArrayEquals(preprocessor, Files.readAllBytes(snapshot.resolve("preprocessor_config.json")));
        assertArrayEquals(weights, Files.readAllBytes(snapshot.resolve("model.safetensors")));
        assertFalse(Files.exists(snapshot.resolve("README.md")), "only the files a converter needs");
        assertEquals(MAIN, Files.readString(repoDir().resolve("refs/main")));
        String weightsSha = FakeHub.sha256(weights);
        Path blob = repoDir().resolve("blobs").resolve(weightsSha);
        assertArrayEquals(weights, Files.readAllBytes(blob));
        assertTrue(Files.isSymbolicLink(snapshot.resolve("model.safetensors")));
        assertEquals(Path.of("../../blobs/" + weightsSha), Files.readSymbolicLink(snapshot.resolve("model.safetensors")));
        try (Stream<Path> blobs = Files.list(repoDir().resolve("blobs"))) {
            assertEquals(3, blobs.peek(p -> assertFalse(p.toString().endsWith(".incomplete") || p.toString().endsWith(".lock"),
                    p.toString())).count());
        }
        try (Checkpoint ckpt = Checkpoint.open(snapshot)) {
            assertEquals("8ae27665268e298a465e041dc350a9353845ffdfd200d89e2edd2e5625b7c50e", ckpt.weightsSha256());
            assertEquals(40, ckpt.names().size());
        }
        // The token goes to the Hub, never to the CDN.
        for (FakeHub.Request r : hub.requests()) {
            assertEquals(r.path().startsWith("/cdn/") ? null : "Bearer hf_secret", r.authorization(), r.toString());
        }
        assertEquals(1, hub.count("GET", "/cdn/"));
    }

    @Test
    void aWarmCacheCostsOneHeadAndNoDownloads() throws IOException {
        HubClient client = client().build();
        Path first = client.snapshot(REPO);
        int before = hub.requests().size();
        long getsBefore = hub.count("GET", "/");

        assertEquals(first, client.snapshot(REPO));
        List<FakeHub.Request> second = hub.requests().subList(before, hub.requests().size());
        assertEquals(getsBefore, hub.count("GET", "/"), "no GET on a warm cache");
        assertEquals(List.of("HEAD /tiny-org/tiny-vit/resolve/main/config.json"),
                second.stream().map(r -> r.method() + " " + r.path()).toList());

        int beforeCommit = hub.requests().size();
        assertEquals(first, client.snapshot(REPO + "@" + MAIN));
        assertEquals(beforeCommit, hub.requests().size(), "a cached commit needs no request at all");

        // A snapshot another tool made without the optional preprocessor config gets it fetched online.
        Files.delete(first.resolve("preprocessor_config.json"));
        assertEquals(first, client.snapshot(REPO));
        assertArrayEquals(preprocessor, Files.readAllBytes(first.resolve("preprocessor_config.json")));
        assertEquals(getsBefore, hub.count("GET", "/"), "its blob is still cached, so it is only linked again");
    }

    @Test
    void resumesAnInterruptedDownloadWithARangeRequest() throws IOException {
        hub.cutNextDownloadAfter = 100_000;
        AtomicLong lastProgress = new AtomicLong();
        Path snapshot = client().progress((file, done, total) -> {
            if (file.equals("model.safetensors")) {
                assertEquals(weights.length, total);
                lastProgress.set(done);
            }
        }).build().snapshot(REPO);

        assertArrayEquals(weights, Files.readAllBytes(snapshot.resolve("model.safetensors")));
        List<FakeHub.Request> cdn = hub.requests().stream().filter(r -> r.path().startsWith("/cdn/")).toList();
        assertEquals(2, cdn.size(), cdn.toString());
        assertNull(cdn.get(0).range());
        assertEquals("bytes=100000-", cdn.get(1).range());
        assertEquals(weights.length, lastProgress.get());
    }

    @Test
    void resumesAfterAStalledConnection() throws IOException {
        hub.stallNextDownloadAfter = 50_000;
        Path snapshot = client().readTimeout(Duration.ofMillis(1500)).build().snapshot(REPO);
        assertArrayEquals(weights, Files.readAllBytes(snapshot.resolve("model.safetensors")));
        List<FakeHub.Request> cdn = hub.requests().stream().filter(r -> r.path().startsWith("/cdn/")).toList();
        assertEquals("bytes=50000-", cdn.get(cdn.size() - 1).range());
    }

    @Test
    void resumesAPartialFileFromAnEarlierRunAndRestartsWhenRangeIsIgnored() throws IOException {
        Path blobs = Files.createDirectories(repoDir().resolve("blobs"));
        Path partial = blobs.resolve(FakeHub.sha256(weights) + ".incomplete");
        Files.write(partial, java.util.Arrays.copyOf(weights, 200_000));
        client().build().snapshot(REPO);
        assertEquals("bytes=200000-", hub.requests().stream().filter(r -> r.path().startsWith("/cdn/"))
                .findFirst().orElseThrow().range());

        // A server that answers a Range request with the whole file (200) must not get its bytes appended.
        HubClient other = client().cacheDir(tmp.resolve("cache2")).build();
        Path partial2 = Files.createDirectories(tmp.resolve("cache2/models--tiny-org--tiny-vit/blobs"))
                .resolve(FakeHub.sha256(weights) + ".incomplete");
        Files.write(partial2, new byte[1000]);
        hub.ignoreRange = true;
        Path snapshot = other.snapshot(REPO);
        assertArrayEquals(weights, Files.readAllBytes(snapshot.resolve("model.safetensors")));
    }

    @Test
    void aCorruptedDownloadFailsItsChecksumAndLeavesNothingBehind() throws IOException {
        hub.corruptDownloads = true;
        HubClient client = client().build();
        HubException e = assertThrows(HubException.class, () -> client.snapshot(REPO));
        assertContains(e, "checksum mismatch", "model.safetensors", FakeHub.sha256(weights), "run again");
        assertFalse(Files.exists(repoDir().resolve("snapshots").resolve(MAIN).resolve("model.safetensors")));
        assertFalse(Files.exists(repoDir().resolve("refs/main")), "the ref moves only with a complete snapshot");
        try (Stream<Path> blobs = Files.list(repoDir().resolve("blobs"))) {
            assertTrue(blobs.noneMatch(p -> p.getFileName().toString().startsWith(FakeHub.sha256(weights))));
        }
        hub.corruptDownloads = false;
        assertArrayEquals(weights, Files.readAllBytes(client.snapshot(REPO).resolve("model.safetensors")));
    }

    @Test
    void offlineModeServesTheCacheAndExplainsAMiss() throws IOException {
        Path online = client().build().snapshot(REPO);
        int requests = hub.requests().size();
        HubClient offline = HubClient.builder().cacheDir(cache).endpoint("http://127.0.0.1:9")
                .environment(Map.of("HF_HUB_OFFLINE", "1")).build();
        assertTrue(offline.offline());
        assertEquals(online, offline.snapshot(REPO));
        assertEquals(requests, hub.requests().size());

        assertContains(assertThrows(HubException.class, () -> offline.snapshot("other-org/absent")),
                "offline mode", "HF_HUB_OFFLINE", "'main' of other-org/absent is not in the cache", "unset HF_HUB_OFFLINE");
        assertContains(assertThrows(HubException.class, () -> offline.snapshot(REPO + "@v9")),
                "'v9'", "not in the cache");
        Files.delete(online.resolve("model.safetensors"));
        assertContains(assertThrows(HubException.class, () -> offline.snapshot(REPO)),
                online.toString(), "lacks model.safetensors");
    }

    @Test
    void aNetworkFailureFallsBackToTheCachedSnapshot() throws IOException {
        HubClient client = client().build();
        Path online = client.snapshot(REPO);
        hub.resolveStatus = 503;
        assertEquals(online, client.snapshot(REPO));
        hub.close();
        assertEquals(online, client.snapshot(REPO));
        IOException e = assertThrows(IOException.class, () -> client.snapshot("other-org/absent"));
        assertFalse(e instanceof HubException, "a network failure is not a definitive answer");
        assertContains(e, "cannot download other-org/absent@main", "not in the cache");
    }

    @Test
    void aRevisionIsResolvedAndRecordedUnderRefs() throws IOException {
        byte[] v1Config = (new String(config, StandardCharsets.UTF_8) + "\n").getBytes(StandardCharsets.UTF_8);
        hub.commit(REPO, "v1.0", V1, Map.of("config.json", v1Config, "model.safetensors", weights));
        HubClient client = client().build();
        Path main = client.snapshot(REPO);
        Path v1 = client.snapshot(REPO + "@v1.0");

        assertEquals(repoDir().resolve("snapshots").resolve(V1), v1);
        assertEquals(V1, Files.readString(repoDir().resolve("refs/v1.0")));
        assertArrayEquals(v1Config, Files.readAllBytes(v1.resolve("config.json")));
        assertArrayEquals(config, Files.readAllBytes(main.resolve("config.json")));
        assertFalse(Files.exists(v1.resolve("preprocessor_config.json")), "optional and absent at v1.0");
        assertTrue(Files.exists(repoDir().resolve(".no_exist").resolve(V1).resolve("preprocessor_config.json")));
        assertEquals(1, hub.count("GET", "/cdn/"), "the shared weights blob is downloaded once");
        // After resolving, every file is requested at the commit, never at the moving branch name.
        List<FakeHub.Request> atBranch = hub.requests().stream()
                .filter(r -> r.path().contains("/resolve/main/") || r.path().contains("/resolve/v1.0/")).toList();
        assertEquals(List.of("HEAD /tiny-org/tiny-vit/resolve/main/config.json",
                        "HEAD /tiny-org/tiny-vit/resolve/v1.0/config.json"),
                atBranch.stream().map(r -> r.method() + " " + r.path()).toList());
        try (Stream<Path> refs = Files.list(repoDir().resolve("refs"))) {
            assertEquals(List.of("main", "v1.0"), refs.map(p -> p.getFileName().toString()).sorted().toList());
        }
        int before = hub.requests().size();
        assertEquals(v1, client.snapshot(REPO + "@v1.0"));
        assertEquals(before + 1, hub.requests().size(), "a known-absent file is not asked for again");
    }

    @Test
    void aShardedRepositoryDownloadsTheIndexAndEveryShard() throws IOException {
        String index = "{\"metadata\":{\"total_size\":20},\"weight_map\":{"
                + "\"a.weight\":\"model-00001-of-00002.safetensors\",\"b.bias\":\"model-00002-of-00002.safetensors\","
                + "\"b.weight\":\"model-00002-of-00002.safetensors\"}}";
        hub.commit("tiny-org/big", "main", SHARDED, Map.of("config.json", config,
                "model.safetensors.index.json", index.getBytes(StandardCharsets.UTF_8),
                "model-00001-of-00002.safetensors", safetensors(Map.of("a.weight", new float[] {1, 2})),
                "model-00002-of-00002.safetensors",
                safetensors(Map.of("b.bias", new float[] {-1}, "b.weight", new float[] {3, 4}))));

        Path snapshot = client().build().snapshot("tiny-org/big");

        assertEquals(1, hub.requests().stream().filter(r -> r.method().equals("HEAD")
                && r.path().endsWith("/model.safetensors")).count(), "model.safetensors was tried first");
        assertEquals(2, hub.count("GET", "/cdn/"));
        assertTrue(Files.exists(cache.resolve("models--tiny-org--big/.no_exist").resolve(SHARDED).resolve("model.safetensors")));
        try (Checkpoint ckpt = Checkpoint.open(snapshot)) {
            assertEquals(List.of("a.weight", "b.bias", "b.weight"), List.copyOf(ckpt.names()));
            assertArrayEquals(new float[] {3, 4}, ckpt.floats("b.weight"));
            assertArrayEquals(new float[] {1, 2}, ckpt.floats("a.weight"));
        }
        HubClient offline = client().offline(true).build();
        assertEquals(snapshot, offline.snapshot("tiny-org/big"));
    }

    @Test
    void explainsRepositoriesItCannotUse() throws IOException {
        HubClient client = client().build();
        assertContains(assertThrows(HubException.class, () -> client.snapshot("nobody/nothing")),
                "repository nobody/nothing not found", "HF_TOKEN");
        hub.commit("gated-org/gated", "main", V1, Map.of("config.json", config));
        hub.failRepo("gated-org/gated", "GatedRepo");
        assertContains(assertThrows(HubException.class, () -> client.snapshot("gated-org/gated")),
                "gated", "accept its conditions", "HF_TOKEN");
        assertContains(assertThrows(HubException.class, () -> client.snapshot(REPO + "@nope")),
                "revision 'nope' not found");
        hub.commit("tiny-org/pickles", "main", SHARDED, Map.of("config.json", config, "pytorch_model.bin", new byte[8]));
        assertContains(assertThrows(HubException.class, () -> client.snapshot("tiny-org/pickles")),
                "neither model.safetensors nor model.safetensors.index.json");
        hub.commit("tiny-org/no-config", "main", SHARDED, Map.of("model.safetensors", weights));
        assertContains(assertThrows(HubException.class, () -> client.snapshot("tiny-org/no-config")),
                "has no config.json");
        for (String bad : List.of("../etc", "a/b/c", "org--x/y", "", "org/name@", "org/name@../x")) {
            assertThrows(IllegalArgumentException.class, () -> client.snapshot(bad), bad);
        }
    }

    @Test
    void followsTheRelativeRedirectOfARenamedRepository() throws IOException {
        hub.rename("old-org/tiny-vit", REPO);
        Path snapshot = client().build().snapshot("old-org/tiny-vit");
        assertEquals(cache.resolve("models--old-org--tiny-vit/snapshots").resolve(MAIN), snapshot);
        assertArrayEquals(weights, Files.readAllBytes(snapshot.resolve("model.safetensors")));
    }

    @Test
    void defaultsComeFromTheHuggingFaceEnvironmentVariables() throws IOException {
        Path home = tmp.resolve("home");
        HubClient plain = HubClient.builder().environment(Map.of()).home(home).build();
        assertEquals(home.resolve(".cache/huggingface/hub"), plain.cacheDir());
        assertEquals("https://huggingface.co", plain.endpoint().toString());
        assertFalse(plain.offline());

        Path hfHome = Files.createDirectories(tmp.resolve("hf-home"));
        Files.writeString(hfHome.resolve("token"), "hf_from_login\n");
        HubClient fromEnv = HubClient.builder().home(home)
                .environment(Map.of("HF_HOME", hfHome.toString(), "HF_ENDPOINT", hub.url() + "/")).build();
        assertEquals(hfHome.resolve("hub"), fromEnv.cacheDir());
        assertEquals(hub.url(), fromEnv.endpoint().toString());
        fromEnv.snapshot(REPO);
        assertEquals("Bearer hf_from_login", hub.requests().get(0).authorization());
        assertTrue(Files.isDirectory(hfHome.resolve("hub/models--tiny-org--tiny-vit/snapshots").resolve(MAIN)));

        HubClient overridden = HubClient.builder().home(home).environment(Map.of("HF_HOME", hfHome.toString(),
                "HF_HUB_CACHE", tmp.resolve("hub-cache").toString(), "HF_TOKEN", "hf_env", "HF_HUB_OFFLINE", "true"))
                .build();
        assertEquals(tmp.resolve("hub-cache"), overridden.cacheDir());
        assertTrue(overridden.offline());
    }

    // ------------------------------------------------------------------------------------------ issue 11 item 8

    private static void flipBytes(Path file, int at, int count) throws IOException {
        byte[] b = Files.readAllBytes(file);
        for (int i = at; i < at + count; i++) {
            b[i] ^= 0x21;
        }
        Files.write(file, b);
    }

    /** 4 bytes changed inside a cached model.safetensors were converted without complaint, online and offline. */
    @Test
    void aChangedCachedBlobIsDownloadedAgainOnlineAndRefusedOffline() throws IOException {
        HubClient client = client().build();
        Path snapshot = client.snapshot(REPO);
        Path blob = repoDir().resolve("blobs").resolve(FakeHub.sha256(weights));
        flipBytes(blob, weights.length / 2, 4);

        assertEquals(snapshot, client.snapshot(REPO));
        assertArrayEquals(weights, Files.readAllBytes(snapshot.resolve("model.safetensors")), "repaired online");
        assertEquals(2, hub.count("GET", "/cdn/"), "downloaded again");

        flipBytes(blob, 1000, 4);
        long gets = hub.count("GET", "/cdn/");
        assertEquals(snapshot, client.snapshot(REPO + "@" + MAIN), "a cached commit is checked too");
        assertArrayEquals(weights, Files.readAllBytes(blob));
        assertEquals(gets + 1, hub.count("GET", "/cdn/"));

        flipBytes(blob, 2000, 4);
        HubClient offline = client().offline(true).build();
        HubException e = assertThrows(HubException.class, () -> offline.snapshot(REPO));
        assertContains(e, "the cached model.safetensors of tiny-org/tiny-vit@main (" + blob + ") is damaged: it has "
                + "sha256 ", "but the Hub says " + FakeHub.sha256(weights), "offline mode is on (HF_HUB_OFFLINE)",
                "unset HF_HUB_OFFLINE and run again");
        hub.resolveStatus = 503;
        e = assertThrows(HubException.class, () -> client.snapshot(REPO));
        assertContains(e, "is damaged", "cannot be reached", "run again once the network is back");
        hub.resolveStatus = -1;
        assertArrayEquals(weights, Files.readAllBytes(client.snapshot(REPO).resolve("model.safetensors")));
    }

    /** With no sha256 ETag and no size, a truncated download was committed and later runs never repaired it. */
    @Test
    void aTruncatedGitFileWithoutASizeIsNotCommitted() throws IOException {
        hub.sizelessSmallFiles = true;
        hub.truncateSmallFiles = true;
        HubClient client = client().build();
        HubException e = assertThrows(HubException.class, () -> client.snapshot(REPO));
        assertContains(e, "checksum mismatch for config.json of tiny-org/tiny-vit@main: the download has git blob id",
                "but the Hub says", "deleted it");
        assertFalse(Files.exists(repoDir().resolve("refs/main")));
        try (Stream<Path> blobs = Files.list(repoDir().resolve("blobs"))) {
            assertEquals(0, blobs.count(), "nothing committed, nothing half-written left");
        }
        hub.truncateSmallFiles = false;
        Path snapshot = client.snapshot(REPO);
        assertArrayEquals(config, Files.readAllBytes(snapshot.resolve("config.json")));

        // A blob an earlier tool committed truncated is caught before use and repaired online.
        Path configBlob = snapshot.resolve("config.json").toRealPath();
        Files.write(configBlob, java.util.Arrays.copyOf(config, config.length / 2));
        HubException offline = assertThrows(HubException.class, () -> client().offline(true).build().snapshot(REPO));
        assertContains(offline, "the cached config.json", "git blob id");
        assertArrayEquals(config, Files.readAllBytes(client.snapshot(REPO).resolve("config.json")));
    }

    /** An ETag that names no content hash: the sha256 is recorded when downloaded and checked on every later use. */
    @Test
    void aBlobWithAnOpaqueEtagIsCheckedAgainstItsRecordedHash() throws IOException {
        hub.opaqueEtags = true;
        hub.sizelessSmallFiles = true;
        Path snapshot = client().build().snapshot(REPO);
        Path configBlob = snapshot.resolve("config.json").toRealPath();
        assertTrue(configBlob.getFileName().toString().startsWith("v1-"), configBlob.toString());
        Path record = repoDir().resolve(".vitfit-verified/blobs").resolve(configBlob.getFileName() + ".sha256");
        assertEquals(FakeHub.sha256(config), Files.readString(record).trim());

        flipBytes(configBlob, 10, 1);
        HubException e = assertThrows(HubException.class, () -> client().offline(true).build().snapshot(REPO));
        assertContains(e, "the cached config.json", "not the " + FakeHub.sha256(config)
                + " recorded when it was first verified");
        assertArrayEquals(config, Files.readAllBytes(client().build().snapshot(REPO).resolve("config.json")),
                "downloaded again online");
    }

    /** A server that kept sending filled the disk: the download stops at the announced size. */
    @Test
    void aDownloadStopsAtTheAnnouncedSize() throws IOException {
        hub.extraBytesOnDownload = 64L << 20;
        HubClient client = client().build();
        HubException e = assertThrows(HubException.class, () -> client.snapshot(REPO));
        assertContains(e, "the server sent more than the " + weights.length + " bytes it announced for "
                + "model.safetensors of tiny-org/tiny-vit@main; stopped there and deleted the download");
        try (Stream<Path> blobs = Files.list(repoDir().resolve("blobs"))) {
            assertTrue(blobs.noneMatch(p -> p.getFileName().toString().startsWith(FakeHub.sha256(weights))));
        }
        hub.extraBytesOnDownload = 0;
        assertArrayEquals(weights, Files.readAllBytes(client.snapshot(REPO).resolve("model.safetensors")));
    }

    /** A HEAD answered 503 was not retried, unlike a GET. */
    @Test
    void headIsRetriedWhenTheHubAnswers5xx() throws IOException {
        hub.failNextResolves.set(2);
        Path snapshot = client().build().snapshot(REPO);
        assertArrayEquals(weights, Files.readAllBytes(snapshot.resolve("model.safetensors")));
        assertEquals(3, hub.requests().stream().filter(r -> r.method().equals("HEAD")
                && r.path().equals("/tiny-org/tiny-vit/resolve/main/config.json")).count());
    }

    /** A safetensors file of F32 tensors, laid out in the map's order sorted by name. */
    private static byte[] safetensors(Map<String, float[]> tensors) {
        StringBuilder header = new StringBuilder("{");
        ByteBuffer data = ByteBuffer.allocate(1024).order(ByteOrder.LITTLE_ENDIAN);
        for (String name : tensors.keySet().stream().sorted().toList()) {
            float[] values = tensors.get(name);
            int begin = data.position();
            for (float v : values) {
                data.putFloat(v);
            }
            header.append(header.length() > 1 ? "," : "").append('"').append(name).append("\":{\"dtype\":\"F32\",\"shape\":[")
                    .append(values.length).append("],\"data_offsets\":[").append(begin).append(',')
                    .append(data.position()).append("]}");
        }
        byte[] h = header.append('}').toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer file = ByteBuffer.allocate(8 + h.length + data.position()).order(ByteOrder.LITTLE_ENDIAN);
        return file.putLong(h.length).put(h).put(data.array(), 0, data.position()).array();
    }

    private static void assertContains(Exception e, String... fragments) {
        for (String f : fragments) {
            if (e.getMessage() == null || !e.getMessage().contains(f)) {
                fail("message lacks '" + f + "': " + e.getMessage(), e);
            }
        }
    }
}
