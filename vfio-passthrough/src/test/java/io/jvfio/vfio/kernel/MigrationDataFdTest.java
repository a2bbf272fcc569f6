package io.jvfio.vfio.kernel;

import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.migration.MigrationState;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.Syscalls;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.jvfio.vmm.linux.jna.LinuxConstants.SOCK_STREAM;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * A migration data fd's stream handling, on a UNIX socket pair standing in for the kernel's data fd
 * (both are read and written with read(2) and write(2), and end with a read of 0): a saving session
 * read to its end across many reads, a stream written into a RESUMING session whole, and the calls a
 * session of the other direction refuses by name. The kernel's own fds are tested in the nested VM
 * (NestedMttyMigrationTest).
 */
class MigrationDataFdTest {

    /** More than one read's worth (64 KiB), and not a multiple of it. */
    private static final byte[] STATE = new byte[150_001];

    static {
        new Random(18).nextBytes(STATE);
    }

    @Test
    void aSavingSessionIsReadToItsEnd() throws Exception {
        OwnedFd[] pair = Syscalls.socketpair(SOCK_STREAM, "data fd");
        try (MigrationDataFd session = new MigrationDataFd(pair[0], "device A", MigrationState.STOP_COPY)) {
            CompletableFuture<Void> device = CompletableFuture.runAsync(() -> {
                try (OwnedFd out = pair[1]) {
                    writeAll(out, STATE); // then the end of stream: the peer's close
                }
            });
            byte[] read = session.readAll();
            device.get(30, TimeUnit.SECONDS);
            assertArrayEquals(STATE, read);
        }
    }

    @Test
    void aStreamIsWrittenWholeIntoAResumingSession() throws Exception {
        OwnedFd[] pair = Syscalls.socketpair(SOCK_STREAM, "data fd");
        try (OwnedFd in = pair[1]) {
            CompletableFuture<byte[]> device = CompletableFuture.supplyAsync(() -> readAll(in, STATE.length));
            long written;
            try (MigrationDataFd session = new MigrationDataFd(pair[0], "device B", MigrationState.RESUMING)) {
                written = session.write(STATE);
            }
            assertEquals(STATE.length, written);
            assertArrayEquals(STATE, device.get(30, TimeUnit.SECONDS));
        }
    }

    @Test
    void aSessionRefusesWhatBelongsToTheOtherDirection() {
        OwnedFd[] pair = Syscalls.socketpair(SOCK_STREAM, "data fd");
        try (OwnedFd other = pair[1];
             MigrationDataFd resuming = new MigrationDataFd(pair[0], "device B", MigrationState.RESUMING)) {
            assertEquals("device B: cannot read a RESUMING session: it takes a stream, and gives none",
                    assertThrows(VfioException.class, resuming::readAll).getMessage());
            assertEquals("device B: VFIO_MIG_GET_PRECOPY_INFO is for a PRE_COPY session, and this one is RESUMING",
                    assertThrows(VfioException.class, resuming::precopyInfo).getMessage());
        }
        OwnedFd[] pair2 = Syscalls.socketpair(SOCK_STREAM, "data fd");
        try (OwnedFd other = pair2[1];
             MigrationDataFd saving = new MigrationDataFd(pair2[0], "device A", MigrationState.STOP_COPY)) {
            assertEquals("device A: a stream is written into a RESUMING session, and this one is STOP_COPY",
                    assertThrows(VfioException.class, () -> saving.write(new byte[1])).getMessage());
            assertEquals("device A: VFIO_MIG_GET_PRECOPY_INFO is for a PRE_COPY session, and this one is STOP_COPY",
                    assertThrows(VfioException.class, saving::precopyInfo).getMessage());
        }
    }

    private static void writeAll(OwnedFd fd, byte[] bytes) {
        ByteBuffer b = ByteBuffer.allocateDirect(bytes.length).put(bytes).flip();
        long address = io.jvfio.vmm.linux.jna.DirectBuffers.address(b);
        long at = 0;
        while (at < bytes.length) {
            at += Syscalls.write(fd, address + at, bytes.length - at);
        }
    }

    private static byte[] readAll(OwnedFd fd, int length) {
        ByteBuffer b = ByteBuffer.allocateDirect(length);
        long address = io.jvfio.vmm.linux.jna.DirectBuffers.address(b);
        long at = 0;
        while (at < length) {
            long n = Syscalls.read(fd, address + at, length - at);
            if (n == 0) {
                break;
            }
            at += n;
        }
        byte[] out = new byte[(int) at];
        b.get(0, out);
        return Arrays.copyOf(out, out.length);
    }
}
