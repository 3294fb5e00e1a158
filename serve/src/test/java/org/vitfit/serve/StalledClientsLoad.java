package org.vitfit.serve;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;

/**
 * The stalled-clients load, one code path for the default test ({@code SlowClientTest}: 64 stalled, 50 requests) and
 * the README figures ({@code serve/bench/stalled-clients.sh}: this class's {@link #main} against a running
 * {@code vitfit serve}, old and new, 64 stalled and 200 requests):
 * <ol>
 *   <li>open {@code stalled} connections to the server, half stopping inside their headers, half inside their body
 *       (headers announcing the whole photo, then its first 1000 bytes), and leave them open;</li>
 *   <li>send {@code requests} {@code POST /predict} with the photo, {@code concurrency} at a time, and record each
 *       latency and every answer that is not a 200 with the expected body, within an overall time budget;</li>
 *   <li>meanwhile, time {@code GET /health} three times (100 ms apart) and keep the slowest.</li>
 * </ol>
 * Uses nothing but the JDK, so the benchmark runs it with {@code java -cp serve/target/test-classes}.
 */
final class StalledClientsLoad {

    /**
     * @param healthMillis    the slowest of three /health answers with the stalled connections open and the
     *                        predictions running (NaN: one failed or did not come within the budget)
     * @param latenciesMillis one per request answered 200 with a good body, sorted
     * @param errors          what went wrong with the others (status and body start, exception, "no answer")
     * @param wallMillis      from the first request to the last answer (or the budget)
     */
    record Result(int stalled, double healthMillis, int requests, double[] latenciesMillis, List<String> errors,
                  double wallMillis) {

        int ok() {
            return latenciesMillis.length;
        }

        double percentile(double p) {
            if (latenciesMillis.length == 0) {
                return Double.NaN;
            }
            int i = (int) Math.ceil(p / 100 * latenciesMillis.length) - 1;
            return latenciesMillis[Math.max(0, Math.min(latenciesMillis.length - 1, i))];
        }
    }

    private StalledClientsLoad() {
    }

    static Result run(URI base, byte[] photo, String contentType, Predicate<String> goodBody, int stalled,
                      int requests, int concurrency, Duration budget) throws IOException, InterruptedException {
        List<Socket> open = new ArrayList<>();
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        ExecutorService clients = Executors.newFixedThreadPool(concurrency);
        try {
            byte[] partialHeaders = ("POST /predict HTTP/1.1\r\nHost: " + base.getHost() + "\r\nContent-Ty")
                    .getBytes(StandardCharsets.US_ASCII);
            byte[] partialBody = concat(("POST /predict HTTP/1.1\r\nHost: " + base.getHost() + "\r\nContent-Type: "
                    + contentType + "\r\nContent-Length: " + photo.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII),
                    Arrays.copyOf(photo, Math.min(1000, photo.length - 1)));
            for (int i = 0; i < stalled; i++) {
                Socket s = new Socket();
                s.connect(new InetSocketAddress(base.getHost(), base.getPort()), 10_000);
                open.add(s);
                OutputStream out = s.getOutputStream();
                out.write(i % 2 == 0 ? partialHeaders : partialBody);
                out.flush();
            }

            // The predictions go out first, so they meet the stalled connections; /health is asked while they run:
            // it must not wait for the stalled connections, nor for the inference queue.
            HttpRequest predict = HttpRequest.newBuilder(base.resolve("predict")).timeout(budget)
                    .header("Content-Type", contentType).POST(HttpRequest.BodyPublishers.ofByteArray(photo)).build();
            List<Future<Object>> answers = new ArrayList<>();
            long start = System.nanoTime();
            for (int i = 0; i < requests; i++) {
                answers.add(clients.submit(() -> {
                    long r0 = System.nanoTime();
                    HttpResponse<String> r = http.send(predict, HttpResponse.BodyHandlers.ofString());
                    double ms = (System.nanoTime() - r0) / 1e6;
                    if (r.statusCode() == 200 && goodBody.test(r.body())) {
                        return ms;
                    }
                    String body = r.body();
                    return r.statusCode() + " " + body.substring(0, Math.min(160, body.length()));
                }));
            }
            HttpRequest health = HttpRequest.newBuilder(base.resolve("health")).timeout(budget).GET().build();
            double healthMillis = 0;
            for (int i = 0; i < 3; i++) {
                long t0 = System.nanoTime();
                try {
                    int status = http.send(health, HttpResponse.BodyHandlers.discarding()).statusCode();
                    healthMillis = Math.max(healthMillis, status == 200 ? (System.nanoTime() - t0) / 1e6 : Double.NaN);
                } catch (IOException e) {
                    healthMillis = Double.NaN;
                }
                Thread.sleep(100);
            }
            long deadline = start + budget.toNanos();
            List<Double> latencies = new ArrayList<>();
            List<String> errors = new ArrayList<>();
            for (Future<Object> f : answers) {
                try {
                    Object o = f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                    if (o instanceof Double ms) {
                        latencies.add(ms);
                    } else {
                        errors.add(String.valueOf(o));
                    }
                } catch (TimeoutException e) {
                    errors.add("no answer within the " + budget.toSeconds() + " s budget");
                } catch (java.util.concurrent.ExecutionException e) {
                    errors.add(String.valueOf(e.getCause()));
                }
            }
            double wall = (Math.min(System.nanoTime(), deadline) - start) / 1e6;
            Collections.sort(latencies);
            return new Result(stalled, healthMillis, requests, latencies.stream().mapToDouble(Double::doubleValue)
                    .toArray(), errors, wall);
        } finally {
            clients.shutdownNow();
            for (Socket s : open) {
                s.close();
            }
        }
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** {@code VmRSS}, {@code VmHWM} (peak RSS) in MiB and {@code Threads} of a Linux process. */
    static String processStatus(long pid) throws IOException {
        List<String> lines = Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"));
        StringBuilder sb = new StringBuilder();
        for (String key : new String[] {"VmRSS", "VmHWM", "Threads"}) {
            for (String line : lines) {
                if (line.startsWith(key + ":")) {
                    String[] parts = line.substring(key.length() + 1).trim().split("\\s+");
                    long v = Long.parseLong(parts[0]);
                    sb.append(sb.length() > 0 ? ", " : "").append('"').append(key).append("\": ")
                            .append(key.equals("Threads") ? Long.toString(v) : String.format(Locale.ROOT, "%.1f", v / 1024.0));
                }
            }
        }
        return "{" + sb + "}";
    }

    /**
     * {@code StalledClientsLoad URL PID PHOTO LABEL STALLED REQUESTS CONCURRENCY BUDGET_S NAME}: one JSON line with
     * the result and the server process's memory before and after.
     */
    public static void main(String[] args) throws Exception {
        if (args.length != 9) {
            System.err.println("usage: StalledClientsLoad URL PID PHOTO EXPECTED_LABEL STALLED REQUESTS CONCURRENCY "
                    + "BUDGET_S NAME");
            System.exit(2);
        }
        URI base = URI.create(args[0]);
        long pid = Long.parseLong(args[1]);
        byte[] photo = Files.readAllBytes(Path.of(args[2]));
        String label = "\"label\":\"" + args[3] + "\"";
        int stalled = Integer.parseInt(args[4]);
        int requests = Integer.parseInt(args[5]);
        int concurrency = Integer.parseInt(args[6]);
        Duration budget = Duration.ofSeconds(Long.parseLong(args[7]));
        // Warm-up (JIT, ONNX Runtime's first runs) so both servers are measured warm.
        Result warm = run(base, photo, "image/jpeg", b -> b.contains(label), 0, 20, 2, budget);
        if (warm.ok() != 20) {
            throw new IllegalStateException("warm-up failed: " + warm.errors());
        }
        String before = processStatus(pid);
        Result r = run(base, photo, "image/jpeg", b -> b.contains(label), stalled, requests, concurrency, budget);
        String after = processStatus(pid);
        System.out.printf(Locale.ROOT, "{\"server\": \"%s\", \"stalled\": %d, \"healthMs\": %.1f, \"requests\": %d, "
                        + "\"ok\": %d, \"errors\": %d, \"p50Ms\": %.1f, \"p99Ms\": %.1f, \"wallS\": %.1f, "
                        + "\"before\": %s, \"after\": %s, \"firstError\": \"%s\"}%n",
                args[8], stalled, r.healthMillis(), requests, r.ok(), r.errors().size(), r.percentile(50),
                r.percentile(99), r.wallMillis() / 1000, before, after,
                r.errors().isEmpty() ? "" : r.errors().get(0).replace("\\", "\\\\").replace("\"", "\\\""));
    }
}
