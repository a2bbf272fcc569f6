package io.jvfio.vfio.emulated;

import io.netty.buffer.ByteBuf;

/**
 * An {@link EmulatedDevice} that migrates: the optional interface through which a vfio-user server
 * offers VFIO_DEVICE_FEATURE_MIGRATION and steps the device through VFIO migration v2's states (a
 * device without it answers DEVICE_FEATURE with ENOTTY, as a kernel driver without mig_ops does).
 *
 * <p>The device's state travels as an opaque stream that the server frames: the device's
 * {@link #stateHeader} (its type and state version, checked before anything is loaded), then the
 * initial section ({@link #savePrecopy}, read while the device still runs in PRE_COPY, or first
 * in STOP_COPY when there was no PRE_COPY), then the final section ({@link #saveStopCopy}, read
 * with the device stopped). The destination loads the sections in the same order. Each section is
 * the device's to lay out; it must consume exactly what it wrote.
 *
 * <p>The server calls these methods one at a time, from the thread that serves the client.
 */
public interface MigratableDevice {

    /** VFIO_MIGRATION_* flags: VFIO_MIGRATION_STOP_COPY (mandatory), and VFIO_MIGRATION_PRE_COPY if it pre-copies. */
    int migrationFlags();

    /** The type and state-format version this device writes, and the only ones it loads. */
    DeviceStateHeader stateHeader();

    /**
     * RUNNING to STOP (and PRE_COPY to STOP_COPY): the device stops: no DMA and no interrupt after
     * this returns, and work in progress is either finished or kept in the state, to go on when it
     * runs again (here or at the destination).
     */
    void stop();

    /** STOP to RUNNING: the device runs again, and goes on with the work {@link #stop} kept. */
    void start();

    /** The initial part of the state, taken while the device may still run (PRE_COPY); may be empty. */
    void savePrecopy(ByteBuf out);

    /** The rest of the state, taken with the device stopped, after {@link #savePrecopy}. */
    void saveStopCopy(ByteBuf out);

    /**
     * Loads what {@link #savePrecopy} wrote, with the device stopped (RESUMING to STOP).
     *
     * @throws io.jvfio.vfio.VfioException if the section is not one this device could have written
     */
    void loadPrecopy(ByteBuf in);

    /**
     * Loads what {@link #saveStopCopy} wrote, after {@link #loadPrecopy}.
     *
     * @throws io.jvfio.vfio.VfioException if the section is not one this device could have written
     */
    void loadStopCopy(ByteBuf in);
}
