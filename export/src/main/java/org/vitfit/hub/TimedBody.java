package org.vitfit.hub;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A response body as an InputStream whose reads fail after a period without data. java.net.http has no read
 * timeout and its own body stream blocks forever on a stalled connection, which would hang a download.
 */
final class TimedBody extends InputStream implements HttpResponse.BodySubscriber<InputStream> {

    private static final Object END = new Object();

    private final BlockingQueue<Object> items = new LinkedBlockingQueue<>();
    private final long stallNanos;
    private volatile Flow.Subscription subscription;
    private Iterator<ByteBuffer> pending;
    private ByteBuffer current;
    private boolean finished;

    TimedBody(Duration stallTimeout) {
        this.stallNanos = stallTimeout.toNanos();
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
        subscription = s;
        s.request(1);
    }

    @Override
    public void onNext(List<ByteBuffer> buffers) {
        items.add(buffers);
    }

    @Override
    public void onError(Throwable error) {
        items.add(error);
    }

    @Override
    public void onComplete() {
        items.add(END);
    }

    /** Completed at once, so that the response is available as soon as its headers are. */
    @Override
    public CompletionStage<InputStream> getBody() {
        return CompletableFuture.completedFuture(this);
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xFF;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        if (len == 0) {
            return 0;
        }
        while (current == null || !current.hasRemaining()) {
            if (pending != null && pending.hasNext()) {
                current = pending.next();
                continue;
            }
            if (finished) {
                return -1;
            }
            Object item;
            try {
                item = items.poll(stallNanos, TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                close();
                throw new InterruptedIOException("download interrupted");
            }
            if (item == null) {
                close();
                throw new HttpTimeoutException(String.format(Locale.ROOT, "no data received for %.1f s; the connection stalled",
                        stallNanos / 1e9));
            }
            if (item == END) {
                finished = true;
                return -1;
            }
            if (item instanceof Throwable error) {
                finished = true;
                throw error instanceof IOException io ? io : new IOException("download failed: " + error, error);
            }
            @SuppressWarnings("unchecked")
            List<ByteBuffer> buffers = (List<ByteBuffer>) item;
            pending = buffers.iterator();
            subscription.request(1);
        }
        int n = Math.min(len, current.remaining());
        current.get(b, off, n);
        return n;
    }

    @Override
    public void close() {
        finished = true;
        Flow.Subscription s = subscription;
        if (s != null) {
            s.cancel();
        }
    }
}
