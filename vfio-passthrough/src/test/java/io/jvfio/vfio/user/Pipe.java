package io.jvfio.vfio.user;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.jna.DirectBuffers;
import io.jvfio.vmm.linux.jna.LibC;

import java.nio.ByteBuffer;

import static io.jvfio.vmm.linux.jna.LinuxConstants.F_GETFL;
import static io.jvfio.vmm.linux.jna.LinuxConstants.F_SETFL;
import static io.jvfio.vmm.linux.jna.LinuxConstants.O_NONBLOCK;

/**
 * A real pipe (pipe2(2)), for tests that hand a peer an fd where it expects an eventfd: a full pipe
 * blocks its writer, and a read end cannot be written at all. The product has no use for pipes, so
 * the call lives here.
 */
final class Pipe implements AutoCloseable {

    private static final int O_CLOEXEC = 0x80000;

    static {
        Native.register(Pipe.class, NativeLibrary.getInstance(Platform.C_LIBRARY_NAME));
    }

    private static native int pipe2(int[] fds, int flags);

    final OwnedFd readEnd;
    final OwnedFd writeEnd;

    Pipe() {
        int[] fds = new int[2];
        if (pipe2(fds, O_CLOEXEC) < 0) {
            throw new AssertionError("pipe2: " + Errno.describe(LibC.errno()));
        }
        readEnd = OwnedFd.adopt(fds[0], "pipe read end");
        writeEnd = OwnedFd.adopt(fds[1], "pipe write end");
    }

    /** Fills the pipe, then makes its write end blocking again: a write to it now blocks. */
    void fillAndBlock() {
        blocking(writeEnd, false);
        ByteBuffer chunk = ByteBuffer.allocateDirect(65536);
        while (LibC.write(writeEnd.get(), DirectBuffers.address(chunk), chunk.capacity()) > 0) {
            // until EAGAIN: full
        }
        blocking(writeEnd, true);
    }

    /** Sets or clears O_NONBLOCK on an fd's open file description (shared with every copy a peer holds). */
    static void blocking(OwnedFd fd, boolean blocking) {
        int fl = LibC.fcntl(fd.get(), F_GETFL, 0);
        if (fl < 0 || LibC.fcntl(fd.get(), F_SETFL, blocking ? fl & ~O_NONBLOCK : fl | O_NONBLOCK) < 0) {
            throw new AssertionError("fcntl " + fd + ": " + Errno.describe(LibC.errno()));
        }
    }

    @Override
    public void close() {
        readEnd.close();
        writeEnd.close();
    }
}
