package org.vitfit.extract;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The decode stage of the extraction pipeline, usable on its own (by {@code vitfit predict}): {@code threads}
 * workers prepare the items of a list (typically read, decode and preprocess an image) into a fixed pool of pixel
 * buffers, and the consumer takes the results back <em>in input order</em>, copies the pixels it needs into its
 * batch and gives the buffer back. Memory is bounded whatever the list's length: the pool, plus a reorder window of
 * results the workers may run ahead by.
 *
 * <pre>{@code
 * try (DecodeStage<InputItem, String> stage = DecodeStage.start(items, threads, pool, floats, task)) {
 *     for (int i = 0; i < items.size(); i++) {
 *         DecodeStage.Prepared<InputItem, String> p = stage.take(i);
 *         if (p.pixels() != null) { batch.put(slot * floats, p.pixels(), 0, floats); stage.release(p.pixels()); }
 *     }
 * }
 * }</pre>
 *
 * @param <T> the items
 * @param <R> what the task makes of one item besides its pixels
 */
public final class DecodeStage<T, R> implements AutoCloseable {

    /** Prepares one item; called on several worker threads at once. */
    @FunctionalInterface
    public interface Task<T, R> {
        /**
         * @param pixels a buffer of {@code floatsPerImage} floats this call may fill
         * @return the item's result, saying whether {@code pixels} were filled (only then does the consumer get them)
         */
        Outcome<R> prepare(T item, FloatBuffer pixels) throws Exception;
    }

    /** What a task made of an item: a value and whether it filled the pixel buffer. */
    public record Outcome<R>(R value, boolean filledPixels) {
        public static <R> Outcome<R> withPixels(R value) {
            return new Outcome<>(value, true);
        }

        public static <R> Outcome<R> withoutPixels(R value) {
            return new Outcome<>(value, false);
        }
    }

    /**
     * One item's result, in input order.
     *
     * @param pixels  the filled buffer, to be given back with {@link #release} once copied; null when not filled
     * @param failure what the task threw (then {@code value} is null); a task reports expected problems (a broken
     *                image) in its value, so this is a bug or an environment failure
     */
    public record Prepared<T, R>(T item, R value, FloatBuffer pixels, Throwable failure) {
    }

    private final List<T> items;
    private final Task<T, R> task;
    private final BlockingQueue<FloatBuffer> freePixels;
    /** How far ahead of the consumer workers may run; sizes the reorder ring. */
    private final Semaphore tickets;
    private final Object[] ring;
    private final AtomicInteger next = new AtomicInteger();
    private final List<Thread> workers = new ArrayList<>();
    private volatile boolean stopping;

    private DecodeStage(List<T> items, int threads, int buffers, int floatsPerImage, Task<T, R> task) {
        if (threads < 1 || buffers < threads || floatsPerImage < 1) {
            throw new IllegalArgumentException("need threads >= 1, buffers >= threads and floatsPerImage >= 1; got "
                    + threads + ", " + buffers + ", " + floatsPerImage);
        }
        this.items = List.copyOf(items);
        this.task = task;
        this.freePixels = new ArrayBlockingQueue<>(buffers);
        for (int i = 0; i < buffers; i++) {
            freePixels.add(ByteBuffer.allocateDirect(floatsPerImage * Float.BYTES).order(ByteOrder.nativeOrder())
                    .asFloatBuffer());
        }
        int ahead = Math.max(64, 4 * buffers);
        this.tickets = new Semaphore(ahead);
        this.ring = new Object[ahead];
        for (int t = 0; t < threads; t++) {
            Thread w = new Thread(this::work, "vitfit-decode-" + t);
            w.setDaemon(true);
            workers.add(w);
        }
    }

    /**
     * Starts the workers.
     *
     * @param threads        worker threads
     * @param buffers        pixel buffers in the pool: at least {@code threads}; more lets the workers run ahead while
     *                       the consumer runs a batch (the extractor uses {@code threads + min(batch, 64) + 2})
     * @param floatsPerImage size of one buffer
     */
    public static <T, R> DecodeStage<T, R> start(List<T> items, int threads, int buffers, int floatsPerImage,
                                                 Task<T, R> task) {
        DecodeStage<T, R> stage = new DecodeStage<>(items, threads, buffers, floatsPerImage, task);
        stage.workers.forEach(Thread::start);
        return stage;
    }

    public int size() {
        return items.size();
    }

    /** Worker: claim a pixel buffer, then the next item, so the item the consumer waits for always has one. */
    private void work() {
        try {
            while (!stopping) {
                tickets.acquire();
                FloatBuffer pixels = freePixels.take();
                int index = next.getAndIncrement();
                if (index >= items.size()) {
                    freePixels.put(pixels);
                    tickets.release();
                    return;
                }
                T item = items.get(index);
                Prepared<T, R> p;
                try {
                    Outcome<R> o = task.prepare(item, pixels);
                    p = new Prepared<>(item, o.value(), o.filledPixels() ? pixels : null, null);
                } catch (Throwable t) {
                    p = new Prepared<>(item, null, null, t);
                }
                if (p.pixels() == null) {
                    freePixels.put(pixels);
                }
                publish(index, p);
            }
        } catch (InterruptedException e) {
            // stopping
        }
    }

    private void publish(int index, Prepared<T, R> p) {
        synchronized (ring) {
            ring[index % ring.length] = p;
            ring.notifyAll();
        }
    }

    /** The result for item {@code index}; call for 0, 1, 2, ... in order, each once. */
    @SuppressWarnings("unchecked")
    public Prepared<T, R> take(int index) throws InterruptedException {
        int slot = index % ring.length;
        Prepared<T, R> p;
        synchronized (ring) {
            while (ring[slot] == null) {
                ring.wait();
            }
            p = (Prepared<T, R>) ring[slot];
            ring[slot] = null;
        }
        tickets.release();
        return p;
    }

    /** Gives a result's pixel buffer back to the pool once its content was copied. */
    public void release(FloatBuffer pixels) throws InterruptedException {
        freePixels.put(pixels);
    }

    /** Stops the workers (those in a task finish it first) and waits for them. */
    @Override
    public void close() throws InterruptedException {
        stopping = true;
        workers.forEach(Thread::interrupt);
        for (Thread w : workers) {
            w.join();
        }
    }
}
