package io.jvfio.vfio.migration;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
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

    /** Ends the session on this side (the device ends it when it leaves the session's states). */
    @Override
    void close();
}
