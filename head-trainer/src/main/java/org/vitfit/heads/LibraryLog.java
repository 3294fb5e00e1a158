package org.vitfit.heads;

import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Supplier;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Keeps what Tribuo (and vitfit's own trainers) log through java.util.logging off the console while a head is
 * trained or evaluated: the records are collected instead, for {@code training.log} in the head directory and for
 * {@code --verbose}. Without this, Tribuo's timestamped two-line warnings would land in the middle of the report.
 */
public final class LibraryLog {

    /** The logger trees whose records are captured. */
    private static final List<String> CAPTURED = List.of("org.tribuo", "org.vitfit.heads", "org.vitfit.eval");
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss.SSS");

    private LibraryLog() {
    }

    /** What {@code work} returned and the lines logged while it ran. */
    public record Captured<T>(T value, List<String> lines) {
    }

    /** Runs {@code work} with the captured loggers routed into a list instead of the console. */
    public static <T> Captured<T> capture(Supplier<T> work) {
        List<String> lines = Collections.synchronizedList(new ArrayList<>());
        Handler handler = new Handler() {
            @Override
            public void publish(LogRecord r) {
                String message = r.getMessage();
                if (r.getParameters() != null && message != null && message.contains("{0")) {
                    message = java.text.MessageFormat.format(message, r.getParameters());
                }
                lines.add(LocalTime.now().format(TIME) + " " + r.getLevel() + " " + r.getLoggerName() + ": " + message
                        + (r.getThrown() == null ? "" : " (" + r.getThrown() + ")"));
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        handler.setLevel(Level.ALL);
        List<Logger> loggers = new ArrayList<>();
        List<Boolean> parents = new ArrayList<>();
        for (String name : CAPTURED) {
            Logger l = Logger.getLogger(name);
            loggers.add(l);
            parents.add(l.getUseParentHandlers());
            l.addHandler(handler);
            l.setUseParentHandlers(false);
        }
        try {
            return new Captured<>(work.get(), List.copyOf(lines));
        } finally {
            for (int i = 0; i < loggers.size(); i++) {
                loggers.get(i).removeHandler(handler);
                loggers.get(i).setUseParentHandlers(parents.get(i));
            }
        }
    }
}
