package io.jvfio.vfio.kernel;

import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.migration.MigrationData;
import io.jvfio.vfio.migration.MigrationState;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.linux.ioctl.Ioctl;
import io.jvfio.vmm.linux.jna.DirectBuffers;
import io.jvfio.vmm.linux.vfio.VfioPrecopyInfo;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;

import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_MIG_GET_PRECOPY_INFO;

/**
 * A migration data transfer session: the fd VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE returns on the arcs
 * that start one (to STOP_COPY or PRE_COPY: the device's state, read; to RESUMING: a state, written).
 * The stream is opaque (linux/vfio.h): its bytes are kept in order and nothing else; its segmentation
 * need not be. The saving states share one session, so a PRE_COPY session continues into STOP_COPY
 * on the same fd. Closing the fd ends the session; the device's driver keeps nothing of it.
 */
public final class MigrationDataFd implements MigrationData {

    /** What one read or write moves at most: a device's state is read in pieces of this size. */
    private static final int CHUNK = 64 * 1024;

    /** What VFIO_MIG_GET_PRECOPY_INFO reports: the initial state still to read, and what changed since. */
    public record PrecopyInfo(long initialBytes, long dirtyBytes) {
    }

    private final OwnedFd fd;
    private final String device;
    private volatile MigrationState session;
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(CHUNK);
    private final long bufferAddress = DirectBuffers.address(buffer);
    private final VfioPrecopyInfo precopyInfo = new VfioPrecopyInfo();

    MigrationDataFd(OwnedFd fd, String device, MigrationState session) {
        this.fd = fd;
        this.device = device;
        this.session = session;
    }

    /**
     * The session's state: STOP_COPY, PRE_COPY, PRE_COPY_P2P (saving) or RESUMING; a saving session
     * follows its device within the saving states.
     */
    @Override
    public MigrationState session() {
        return session;
    }

    /** The device moved within the saving states (PRE_COPY to STOP_COPY), and this session with it. */
    void continueAs(MigrationState state) {
        session = state;
    }

    public OwnedFd fd() {
        return fd;
    }

    /**
     * Reads the device's state into {@code out} until the stream ends, and returns the bytes read.
     * In STOP_COPY the end is permanent (read returns 0). In PRE_COPY it is the temporary end of what
     * the device has now: ENOMSG, as linux/vfio.h asks of a driver, or 0, which mtty returns instead;
     * more may come later, and the rest arrives in STOP_COPY on this same fd.
     */
    @Override
    public synchronized long readTo(WritableByteChannel out) {
        requireSaving("read");
        long total = 0;
        while (true) {
            long n;
            try {
                n = Syscalls.read(fd, bufferAddress, CHUNK);
            } catch (SyscallException e) {
                if (e.is(Errno.ENOMSG) && session != MigrationState.STOP_COPY) {
                    return total; // PRE_COPY's temporary end of stream
                }
                if (e.is(Errno.EAGAIN)) {
                    return total; // nothing now on an fd someone made non-blocking; poll for more
                }
                throw new VfioException(device + ": reading its migration data (" + session + ") failed after " + total
                        + " bytes: " + Errno.describe(e.errnoValue()) + (e.is(Errno.ENODEV) ? "; the session ended (the "
                        + "device left the saving states, or was reset): start a new one" : ""), e);
            }
            if (n == 0) {
                return total;
            }
            buffer.clear().limit((int) n);
            try {
                while (buffer.hasRemaining()) {
                    out.write(buffer);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(device + ": passing on its migration data failed after " + total
                        + " bytes", e);
            }
            total += n;
        }
    }

    /**
     * Writes every byte of {@code in} (to its end) into a RESUMING device; returns the bytes written.
     * A device that refuses the stream (its header, version or size is not its own) fails the write;
     * the error says what the kernel answered and how many bytes it had taken.
     */
    @Override
    public synchronized long writeFrom(ReadableByteChannel in) {
        return MigrationData.loadInPieces(device, session, in, buffer, (piece, loaded) -> {
            // piece is this session's direct buffer, from its start
            long n = piece.remaining();
            for (long at = 0; at < n; ) {
                try {
                    at += Syscalls.write(fd, bufferAddress + at, n - at);
                } catch (SyscallException e) {
                    throw new VfioException.MigrationFailed(device + " refused the migration stream after "
                            + (loaded + at) + " bytes: its driver answered the write with "
                            + Errno.describe(e.errnoValue()) + refusal(e), MigrationState.RESUMING.name(), e);
                }
            }
        });
    }

    /** What a driver's errno on a resuming write means, where the kernel's samples give it one. */
    private static String refusal(SyscallException e) {
        if (e.is(Errno.EFAULT)) {
            return " (mtty answers so when the stream's header is not its own: another magic number or version, or "
                    + "another number of ports, i.e. a stream saved from another device type); load a stream saved "
                    + "from a device of this one's type, then reset the device to leave RESUMING";
        }
        if (e.is(Errno.ENOMEM)) {
            return " (more bytes than this device's state holds: a stream saved from a larger device); load a stream "
                    + "saved from a device of this one's type, then reset the device to leave RESUMING";
        }
        return "; reset the device to leave RESUMING";
    }

    /**
     * VFIO_MIG_GET_PRECOPY_INFO: in PRE_COPY or PRE_COPY_P2P only (the kernel answers EINVAL in any
     * other state, which is refused here by name).
     */
    public synchronized PrecopyInfo precopyInfo() {
        if (session != MigrationState.PRE_COPY && session != MigrationState.PRE_COPY_P2P) {
            throw new VfioException(device + ": VFIO_MIG_GET_PRECOPY_INFO is for a PRE_COPY session, and this one is "
                    + session);
        }
        try {
            Ioctl.ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, precopyInfo.request());
        } catch (SyscallException e) {
            throw new VfioException(device + ": VFIO_MIG_GET_PRECOPY_INFO failed: " + Errno.describe(e.errnoValue())
                    + (e.is(Errno.EINVAL) ? " (the device is no longer in PRE_COPY: the session moved on to STOP_COPY, "
                    + "or ended)" : ""), e);
        }
        return new PrecopyInfo(precopyInfo.initialBytes(), precopyInfo.dirtyBytes());
    }

    private void requireSaving(String what) {
        if (session == MigrationState.RESUMING) {
            throw new VfioException(device + ": cannot " + what + " a RESUMING session: it takes a stream, and gives none");
        }
    }

    @Override
    public void close() {
        fd.close();
    }

    @Override
    public String toString() {
        return device + "'s migration data fd (" + session + ")";
    }
}
