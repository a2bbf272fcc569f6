package io.jvfio.vmm.linux;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.linux.jna.StructLayout;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static io.jvfio.vmm.linux.jna.LinuxConstants.EPOLL_CLOEXEC;
import static io.jvfio.vmm.linux.jna.LinuxConstants.EPOLL_CTL_ADD;
import static io.jvfio.vmm.linux.jna.LinuxConstants.EPOLL_CTL_DEL;
import static io.jvfio.vmm.linux.jna.LinuxConstants.EPOLL_CTL_MOD;

/**
 * An epoll instance with a preallocated array of ready events, for one waiting thread.
 * {@link #add}, {@link #modify} and {@link #remove} may be called from other threads while it waits
 * (the kernel allows that); {@link #waitReady} and the ready-event accessors belong to the waiter.
 */
public final class Epoll implements AutoCloseable {

    /** {@code struct epoll_event}: packed on x86_64, so {@code data} sits at offset 4. */
    static final int EVENT_EVENTS = 0;
    static final int EVENT_DATA = 4;
    static final int EVENT_SIZEOF = 12;
    static final StructLayout EVENT_LAYOUT = StructLayout.of("sys/epoll.h", "epoll_event", EVENT_SIZEOF)
            .field("events", EVENT_EVENTS, 4)
            .field("data", EVENT_DATA, 8)
            .build();

    private final OwnedFd epfd;
    private final ByteBuffer ready;
    private final long readyAddress;
    private final int maxEvents;

    /** An epoll instance that reports at most {@code maxEvents} ready fds per wait. */
    public Epoll(String name, int maxEvents) {
        if (maxEvents <= 0) {
            throw new IllegalArgumentException("maxEvents must be positive: " + maxEvents);
        }
        int fd = LibC.epoll_create1(EPOLL_CLOEXEC);
        if (fd < 0) {
            throw new SyscallException("epoll_create1", name, LibC.errno());
        }
        this.epfd = OwnedFd.adopt(fd, "epoll:" + name);
        this.maxEvents = maxEvents;
        this.ready = ByteBuffer.allocateDirect(maxEvents * EVENT_SIZEOF).order(ByteOrder.nativeOrder());
        this.readyAddress = Pointer.nativeValue(Native.getDirectBufferPointer(ready));
    }

    /** Watches {@code fd} for {@code events} (EPOLLIN...); {@code data} comes back with each event. */
    public void add(OwnedFd fd, int events, long data) {
        control(EPOLL_CTL_ADD, "EPOLL_CTL_ADD", fd, events, data);
    }

    public void modify(OwnedFd fd, int events, long data) {
        control(EPOLL_CTL_MOD, "EPOLL_CTL_MOD", fd, events, data);
    }

    public void remove(OwnedFd fd) {
        control(EPOLL_CTL_DEL, "EPOLL_CTL_DEL", fd, 0, 0);
    }

    private void control(int op, String opName, OwnedFd fd, int events, long data) {
        ThreadScratch scratch = ThreadScratch.get();
        ByteBuffer event = scratch.memory();
        event.putInt(EVENT_EVENTS, events);
        event.putLong(EVENT_DATA, data);
        if (LibC.epoll_ctl(epfd.get(), op, fd.get(), scratch.address()) < 0) {
            throw new SyscallException("epoll_ctl(" + opName + ", " + fd.name() + ")", epfd.name(),
                    LibC.errno());
        }
    }

    /**
     * Waits up to {@code timeoutMillis} (-1 for ever, 0 to poll) and returns how many fds are ready;
     * 0 on timeout or when a signal interrupted the wait.
     */
    public int waitReady(int timeoutMillis) {
        int n = LibC.epoll_wait(epfd.get(), readyAddress, maxEvents, timeoutMillis);
        if (n < 0) {
            int errno = LibC.errno();
            if (errno == Errno.EINTR.number()) {
                return 0;
            }
            throw new SyscallException("epoll_wait", epfd.name(), errno);
        }
        return n;
    }

    /** The events (EPOLLIN, EPOLLHUP...) of the {@code i}-th ready fd of the last wait. */
    public int readyEvents(int i) {
        return ready.getInt(i * EVENT_SIZEOF + EVENT_EVENTS);
    }

    /** The data registered with the {@code i}-th ready fd of the last wait. */
    public long readyData(int i) {
        return ready.getLong(i * EVENT_SIZEOF + EVENT_DATA);
    }

    public OwnedFd fd() {
        return epfd;
    }

    @Override
    public void close() {
        epfd.close();
    }
}
