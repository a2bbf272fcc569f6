package io.jvfio.vfio.migration;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;

/**
 * A migration data transfer session ({@link DeviceMigration#setState}): the device's state read in
 * a saving state (PRE_COPY, STOP_COPY), or a state written in RESUMING. The stream is opaque; its
 * bytes are kept in order and nothing else, and its segmentation need not be.
 */
public interface MigrationData extends AutoCloseable {

    /** The session's state: STOP_COPY, PRE_COPY, PRE_COPY_P2P (saving) or RESUMING. */
    MigrationState session();

    /**
     * Reads the device's state into {@code out} until the stream ends (in PRE_COPY: until what the
     * device has now is read; the rest follows in STOP_COPY), and returns the bytes read.
     */
    long readTo(WritableByteChannel out);

    /** Writes every byte of {@code in}, to its end, into a RESUMING device; returns the bytes written. */
    long writeFrom(ReadableByteChannel in);

    /** {@link #readTo} into memory. */
    default byte[] readAll() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        readTo(Channels.newChannel(bytes));
        return bytes.toByteArray();
    }

    /** The stream in {@code bytes}, written as {@link #writeFrom} does. */
    default long write(byte[] bytes) {
        return writeFrom(Channels.newChannel(new ByteArrayInputStream(bytes)));
    }

    /**
     * Where a RESUMING session hands each piece of the stream: to the device, all of {@code piece} (or a
     * {@link io.jvfio.vfio.VfioException.MigrationFailed} if the device refuses it, after {@code loaded} bytes).
     */
    @FunctionalInterface
    interface PieceSink {
        void load(ByteBuffer piece, long loaded);
    }

    /**
     * The loop of a {@link #writeFrom}: checks that {@code session} is RESUMING, fills {@code piece} (whole, but
     * the last) from {@code in} to its end, hands each to {@code sink}, and returns the bytes loaded.
     * {@code name} names the device in the errors.
     */
    static long loadInPieces(String name, MigrationState session, ReadableByteChannel in, ByteBuffer piece,
            PieceSink sink) {
        if (session != MigrationState.RESUMING) {
            throw new io.jvfio.vfio.VfioException(name + ": a stream is written into a RESUMING session, and this one is "
                    + session);
        }
        long total = 0;
        while (true) {
            piece.clear();
            try {
                while (piece.hasRemaining() && in.read(piece) >= 0) {
                    // fill a whole piece, or up to the end
                }
            } catch (IOException e) {
                throw new UncheckedIOException(name + ": reading the migration stream to load failed after " + total
                        + " bytes", e);
            }
            piece.flip();
            int n = piece.remaining();
            if (n == 0) {
                return total;
            }
            sink.load(piece, total);
            total += n;
        }
    }

    /** Ends the session on this side (the device ends it when it leaves the session's states). */
    @Override
    void close();
}
