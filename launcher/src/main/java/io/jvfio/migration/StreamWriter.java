package io.jvfio.migration;

import java.io.DataOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.util.Arrays;
import java.util.function.LongSupplier;

/**
 * The source's side of the stream ({@link StreamFormat}): the header, RAM pages (a page of zeros as its
 * address only), round marks, parts' states and the end, counting the bytes it sends and holding them to
 * {@code max-bandwidth} (QEMU's rate limit: at most a tenth of a second's worth in each 100 ms).
 */
final class StreamWriter {

    private static final byte[] ZERO_PAGE = new byte[StreamFormat.PAGE_SIZE];
    private static final long WINDOW_NANOS = 100_000_000L;

    private final Counting counted;
    private final DataOutputStream out;
    private final LongSupplier maxBandwidth;
    private long windowStart = System.nanoTime();
    private long windowBytes;

    StreamWriter(OutputStream out, LongSupplier maxBandwidth) {
        this.counted = new Counting(out);
        this.out = new DataOutputStream(counted);
        this.maxBandwidth = maxBandwidth;
    }

    void header(StreamHeader h) throws IOException {
        h.write(out);
    }

    /** Sends one page; returns false when it was all zeros (QEMU's "duplicate") and went as its address only. */
    boolean page(long gpa, byte[] page) throws IOException {
        long before = counted.count;
        boolean zero = Arrays.equals(page, ZERO_PAGE);
        out.writeByte(zero ? StreamFormat.TAG_ZERO : StreamFormat.TAG_PAGE);
        out.writeLong(gpa);
        if (!zero) {
            out.write(page);
        }
        throttle(counted.count - before);
        return !zero;
    }

    void round(int round) throws IOException {
        out.writeByte(StreamFormat.TAG_ROUND);
        out.writeInt(round);
    }

    void part(int index, byte[] state) throws IOException {
        out.writeByte(StreamFormat.TAG_PART);
        out.writeInt(index);
        out.writeInt(state.length);
        out.write(state);
    }

    void end() throws IOException {
        out.writeByte(StreamFormat.TAG_END);
        out.flush();
    }

    void flush() throws IOException {
        out.flush();
    }

    /** Bytes handed to the transport so far (QEMU's {@code transferred}). */
    long transferred() {
        return counted.count;
    }

    private void throttle(long bytes) throws IOException {
        long limit = maxBandwidth.getAsLong();
        if (limit <= 0) {
            return;
        }
        windowBytes += bytes;
        long now = System.nanoTime();
        if (now - windowStart >= WINDOW_NANOS) {
            windowStart = now;
            windowBytes = 0;
            return;
        }
        if (windowBytes >= limit / 10) {
            // Rate limiting, as QEMU's migration_rate_limit: wait for the next window, the guest running meanwhile.
            long wait = windowStart + WINDOW_NANOS - now;
            try {
                Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while rate limiting");
            }
            windowStart = System.nanoTime();
            windowBytes = 0;
        }
    }

    /** Counts what passes through. */
    private static final class Counting extends FilterOutputStream {
        volatile long count;

        Counting(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            count += len;
        }
    }
}
