package org.vitfit.extract;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;

import java.io.PrintStream;
import java.time.temporal.ChronoUnit;
import java.util.List;

/** The terminal view of a run: which device runs it, a progress bar (done/total, img/s, ETA), recovery notes. */
public final class ConsoleProgress implements ExtractListener, AutoCloseable {

    private final PrintStream out;
    private ProgressBar bar;

    /** @param out where to draw; stderr keeps stdout clean for the summary */
    public ConsoleProgress(PrintStream out) {
        this.out = out;
    }

    @Override
    public void recovered(List<String> notes) {
        notes.forEach(n -> out.println("cache recovery: " + n));
    }

    @Override
    public synchronized void started(long images, String device) {
        out.println("extracting " + images + " images, running on " + device);
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

    @Override
    public synchronized void progress(long done, long images) {
        if (bar != null) {
            bar.stepTo(done);
        }
    }

    @Override
    public synchronized void close() {
        if (bar != null) {
            bar.close();
            bar = null;
        }
    }
}
