package org.vitfit.extract;

import java.nio.file.Path;
import java.util.List;

/**
 * The extractor as a separate process for {@link CrashSafetyTest}, which kills it with SIGKILL. Reports what it
 * does on stdout, one line per event, so the test can pick the moment.
 *
 * <p>Arguments: model dir, input, cache dir, and a progress count at which to pause for 10 s right after rows were
 * appended but before they are committed (0: never), which gives the test a certain uncommitted tail to kill.
 */
public final class CrashChild {

    public static void main(String[] args) throws Exception {
        long pauseAt = Long.parseLong(args[3]);
        ExtractOptions options = ExtractOptions.builder(Path.of(args[0]), Path.of(args[1]), Path.of(args[2]))
                .batchSize(2).threads(1).ortThreads(1).commitInterval(0).build();
        ExtractSummary s = Extractor.run(options, new ExtractListener() {
            boolean paused;

            @Override
            public void recovered(List<String> notes) {
                notes.forEach(n -> say("recovered " + n));
            }

            @Override
            public void started(long images, String device) {
                say("started " + images);
            }

            @Override
            public void progress(long done, long images) {
                say("progress " + done);
                if (pauseAt > 0 && done >= pauseAt && !paused) {
                    paused = true;
                    say("paused");
                    try {
                        Thread.sleep(10_000);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }

            @Override
            public void committed(long liveRows) {
                say("committed " + liveRows);
            }
        });
        say("done " + s.embedded() + " " + s.cacheRows());
    }

    private static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }
}
