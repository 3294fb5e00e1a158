package org.vitfit.extract;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * The console view of a run: which device runs it, progress (done/total, img/s, ETA), recovery notes.
 *
 * <p>On a terminal progress is a redrawn bar (me.tongfei:progressbar). Redirected to a file or a pipe, redrawing
 * would fill the log with carriage returns and escape codes, so a plain line is printed every few seconds instead:
 * {@code extract: 1200/2700 images (44%), 30.1 img/s, about 0:00:50 left}. The rate counts every image looked at,
 * skipped ones included, so a run with nothing to embed does not read as "0.0 img/s".
 */
public final class ConsoleProgress implements ExtractListener, AutoCloseable {

    /** Milliseconds between two plain progress lines. */
    static final long LINE_INTERVAL_MILLIS = 5000;

    private final PrintStream out;
    private final boolean terminal;
    private final long lineIntervalNanos;
    private ProgressBar bar;
    private long startNanos;
    private long lastLineNanos;
    private long lastDone = -1;
    private long done;
    private long total;

    /** Draws on {@code out} as a bar when stderr is a terminal, in plain lines otherwise. */
    public ConsoleProgress(PrintStream out) {
        this(out, stderrIsTerminal(), LINE_INTERVAL_MILLIS);
    }

    ConsoleProgress(PrintStream out, boolean terminal, long lineIntervalMillis) {
        this.out = out;
        this.terminal = terminal;
        this.lineIntervalNanos = TimeUnit.MILLISECONDS.toNanos(lineIntervalMillis);
    }

    /**
     * Whether file descriptor 2 is a terminal: on Linux from what {@code /proc/self/fd/2} points to; elsewhere
     * Java only knows whether stdin and stdout are ({@link System#console()}). {@code TERM=dumb} means no.
     */
    public static boolean stderrIsTerminal() {
        if ("dumb".equals(System.getenv("TERM"))) {
            return false;
        }
        Path fd = Path.of("/proc/self/fd/2");
        if (Files.exists(fd, LinkOption.NOFOLLOW_LINKS)) {
            try {
                String target = Files.readSymbolicLink(fd).toString();
                return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
            } catch (IOException | UnsupportedOperationException e) {
                // fall through
            }
        }
        return System.console() != null;
    }

    @Override
    public void recovered(List<String> notes) {
        notes.forEach(n -> out.println("cache recovery: " + n));
    }

    @Override
    public synchronized void started(long images, String device) {
        out.println("extracting " + images + " images, running on " + device);
        total = images;
        startNanos = System.nanoTime();
        lastLineNanos = startNanos;
        if (terminal) {
            bar = new ProgressBarBuilder()
                    .setTaskName("extract")
                    .setInitialMax(images)
                    .setConsumer(new ConsoleProgressBarConsumer(out))
                    .setUnit(" img", 1)
                    .showSpeed()
                    .setSpeedUnit(ChronoUnit.SECONDS)
                    .setUpdateIntervalMillis(500)
                    .build();
        }
    }

    @Override
    public synchronized void progress(long done, long images) {
        this.done = done;
        if (bar != null) {
            bar.stepTo(done);
            return;
        }
        long now = System.nanoTime();
        if (!terminal && now - lastLineNanos >= lineIntervalNanos) {
            printLine(now);
        }
    }

    private void printLine(long now) {
        lastLineNanos = now;
        lastDone = done;
        double seconds = (now - startNanos) / 1e9;
        double rate = seconds > 0 ? done / seconds : 0;
        String left = rate > 0 && done < total ? ", about " + clock((long) ((total - done) / rate)) + " left" : "";
        out.println(String.format(Locale.ROOT, "extract: %d/%d images (%d%%), %.1f img/s%s", done, total,
                total == 0 ? 100 : done * 100 / total, rate, left));
    }

    private static String clock(long seconds) {
        return String.format(Locale.ROOT, "%d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60);
    }

    @Override
    public synchronized void close() {
        if (bar != null) {
            bar.close();
            bar = null;
        } else if (!terminal && startNanos != 0 && done != lastDone) {
            printLine(System.nanoTime());
        }
    }
}
