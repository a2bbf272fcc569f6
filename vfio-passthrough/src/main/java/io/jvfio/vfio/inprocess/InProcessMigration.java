package io.jvfio.vfio.inprocess;

import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.emulated.EmulatedDevice;
import io.jvfio.vfio.emulated.MigratableDevice;
import io.jvfio.vfio.emulated.host.HostedMigration;
import io.jvfio.vfio.migration.DeviceMigration;
import io.jvfio.vfio.migration.MigrationData;
import io.jvfio.vfio.migration.MigrationFlags;
import io.jvfio.vfio.migration.MigrationState;
import io.jvfio.vfio.migration.MigrationStateMachine;
import io.jvfio.vfio.migration.StateChange;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.List;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FLAGS_RESET;

/**
 * VFIO migration v2 of a device written in Java in the VMM's own process ({@link InProcessBackend#migration}),
 * the counterpart of the kernel's VfioDeviceMigration and vfio-user's ClientMigration: the same states
 * and arcs, driven by the device's {@link MigratableDevice} hooks through the {@link HostedMigration}
 * a vfio-user server drives them with, so a device migrates in process exactly as it does served. The
 * data transfer session is the stream in memory ({@code DeviceStateStream}'s framing), read and written
 * in pieces of {@link #CHUNK} bytes. Its steps are serialized with the device's region accesses.
 */
final class InProcessMigration implements DeviceMigration {

    /** The piece a session reads or writes at a time. */
    static final int CHUNK = 1 << 20;

    private final String name;
    private final EmulatedDevice device;
    private final HostedMigration hosted;
    /** The back end: region accesses hold it, so a stop comes between two of them. */
    private final Object lock;
    /** The open saving session, which PRE_COPY and STOP_COPY share; null when there is none. */
    private Data saving;

    InProcessMigration(String name, MigratableDevice migratable, EmulatedDevice device, Object lock) {
        this.name = name;
        this.device = device;
        this.hosted = new HostedMigration(migratable, name, "a device reset");
        this.lock = lock;
    }

    @Override
    public MigrationStateMachine machine() {
        return hosted.machine();
    }

    @Override
    public MigrationState state() {
        synchronized (lock) {
            return hosted.state();
        }
    }

    /**
     * {@inheritDoc}
     *
     * @throws VfioException.MigrationFailed if an arc's action failed (the device is left in ERROR)
     */
    @Override
    public MigrationData setState(MigrationState to) {
        synchronized (lock) {
            MigrationState from = hosted.state();
            List<MigrationState> walk = StateChange.walk(hosted.machine(), name, from, to, "the device");
            try {
                hosted.set(to);
            } catch (HostedMigration.ArcFailed | HostedMigration.Refused e) {
                throw new VfioException.MigrationFailed(e.getMessage(), hosted.state().name(), e);
            }
            boolean savingState = to == MigrationState.STOP_COPY || to == MigrationState.PRE_COPY;
            MigrationState last = walk.size() > 1 ? walk.get(walk.size() - 2) : from;
            boolean starts = to == MigrationState.RESUMING || savingState && last != MigrationState.PRE_COPY;
            if (starts) {
                Data data = new Data(to);
                if (saving != null) {
                    saving.close();
                }
                saving = savingState ? data : null;
                return data;
            }
            if (savingState && saving != null) {
                saving.state = to; // PRE_COPY on into STOP_COPY: the same session
            } else if (!savingState) {
                if (saving != null) {
                    saving.close();
                }
                saving = null;
            }
            return null;
        }
    }

    /** The device's reset, as VFIO_DEVICE_RESET: back to RUNNING from any state, a session ended. */
    @Override
    public void reset() {
        synchronized (lock) {
            if ((device.flags() & VFIO_DEVICE_FLAGS_RESET) == 0) {
                throw new VfioException.ResetNotSupported(name + " does not support reset (its flags lack "
                        + "VFIO_DEVICE_FLAGS_RESET), the way out of a failed migration's ERROR: the device stays in "
                        + hosted.state());
            }
            device.reset();
            hosted.reset();
            if (saving != null) {
                saving.close();
            }
            saving = null;
        }
    }

    /** The back end closes: a session ends, and a device left stopped runs again (its owner may host it anew). */
    void end() {
        synchronized (lock) {
            hosted.end();
        }
    }

    @Override
    public String toString() {
        return name + " (in-process migration " + MigrationFlags.describe(hosted.migrationFlags()) + ")";
    }

    /** A data transfer session: the hosted migration's bytes, in pieces. */
    private final class Data implements MigrationData {
        private volatile MigrationState state;
        private volatile boolean closed;

        Data(MigrationState state) {
            this.state = state;
        }

        @Override
        public MigrationState session() {
            return state;
        }

        @Override
        public long readTo(WritableByteChannel out) {
            requireOpen();
            if (state == MigrationState.RESUMING) {
                throw new VfioException(name + ": cannot read a RESUMING session: it takes a stream, and gives none");
            }
            ByteBuf piece = Unpooled.buffer(CHUNK);
            long total = 0;
            try {
                while (true) {
                    piece.clear();
                    int n;
                    synchronized (lock) {
                        n = hosted.read(piece, CHUNK);
                    }
                    ByteBuffer data = piece.nioBuffer(0, n);
                    while (data.hasRemaining()) {
                        out.write(data);
                    }
                    total += n;
                    if (n < CHUNK) {
                        return total; // less than a piece: no more migration data now
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(name + ": passing on its migration data failed after " + total + " bytes",
                        e);
            } finally {
                piece.release();
            }
        }

        @Override
        public long writeFrom(ReadableByteChannel in) {
            requireOpen();
            return MigrationData.loadInPieces(name, state, in, ByteBuffer.allocate(CHUNK), (piece, loaded) -> {
                try {
                    synchronized (lock) {
                        hosted.write(Unpooled.wrappedBuffer(piece), piece.remaining());
                    }
                } catch (HostedMigration.Refused | HostedMigration.TooLarge e) {
                    throw new VfioException.MigrationFailed(name + " refused the migration stream after " + loaded
                            + " bytes: " + e.getMessage() + "; load a stream saved from a device of this type, then "
                            + "reset the device to leave RESUMING", MigrationState.RESUMING.name(), e);
                }
            });
        }

        private void requireOpen() {
            if (closed) {
                throw new VfioException(name + ": this " + state + " migration session has ended (the device left its "
                        + "state, or was reset): start a new one");
            }
        }

        @Override
        public void close() {
            closed = true;
        }

        @Override
        public String toString() {
            return name + " " + state + " migration session (in-process)";
        }
    }
}
