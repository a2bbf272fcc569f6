package io.jvfio.vmm.linux;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * A few bytes of native memory per thread, for the small out-parameters of syscalls that may run on
 * any thread at once ({@code struct pollfd}, an eventfd counter, a trapped register's value). Allocated once per thread, so
 * those calls allocate nothing afterwards.
 */
final class ThreadScratch extends NativeStruct {

    /** {@code struct pollfd} (poll.h): fd, events, revents. */
    static final int POLLFD_FD = 0;
    static final int POLLFD_EVENTS = 4;
    static final int POLLFD_REVENTS = 6;
    static final int POLLFD_SIZEOF = 8;
    static final StructLayout POLLFD_LAYOUT = StructLayout.of("poll.h", "pollfd", POLLFD_SIZEOF)
            .field("fd", POLLFD_FD, 4)
            .field("events", POLLFD_EVENTS, 2)
            .field("revents", POLLFD_REVENTS, 2)
            .build();

    /** A {@code struct iovec} ({@link SocketMessage#IOVEC_LAYOUT}) over the first 8 bytes, for preadv2. */
    private static final int IOVEC_AT = 16;

    private static final ThreadLocal<ThreadScratch> SCRATCH = ThreadLocal.withInitial(ThreadScratch::new);

    private ThreadScratch() {
        super(64);
        putU64(IOVEC_AT + SocketMessage.IOV_BASE, address());
        putU64(IOVEC_AT + SocketMessage.IOV_LEN, 8);
    }

    /** A {@code struct iovec} for one 8-byte read into the scratch's first bytes ({@link #u64At}(0)). */
    long iovecOf8() {
        return address() + IOVEC_AT;
    }

    static ThreadScratch get() {
        return SCRATCH.get();
    }

    void putPollFd(int fd, int events) {
        putU32(POLLFD_FD, fd);
        putU16(POLLFD_EVENTS, events);
        putU16(POLLFD_REVENTS, 0);
    }

    int pollRevents() {
        return u16(POLLFD_REVENTS);
    }

    long u64At(int offset) {
        return u64(offset);
    }

    void putU64At(int offset, long value) {
        putU64(offset, value);
    }
}
