package io.jvfio.vmm.linux;

import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.linux.jna.LinuxConstants;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static io.jvfio.vmm.linux.jna.LinuxConstants.EPOLLIN;
import static io.jvfio.vmm.linux.jna.LinuxConstants.POLLIN;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Eventfds and epoll on the real kernel. */
class EventFdAndEpollTest {

    @Test
    void signalsCoalesceIntoOneCount() {
        try (EventFd e = new EventFd("coalesce")) {
            assertEquals(0, e.read(), "nothing pending yet");
            e.signal();
            e.signal();
            e.signal(5);
            assertEquals(7, e.read(), "three writes, one read, count carried");
            assertEquals(0, e.read());
        }
    }

    /**
     * An eventfd a peer passed may be blocking, or made blocking later: O_NONBLOCK is the peer's flag
     * too (one open file description). A read of an empty one must still return at once, with 0.
     */
    @Test
    void readingAnEmptyBlockingEventfdDoesNotBlock() {
        int raw = LibC.eventfd(0, LinuxConstants.EFD_CLOEXEC); // blocking, as a hostile peer leaves it
        assertTrue(raw >= 0, "eventfd");
        try (EventFd e = new EventFd(OwnedFd.adopt(raw, "blocking eventfd"))) {
            assertEquals(0, e.read(), "an empty counter reads as nothing pending, without blocking");
            assertEquals(0, LibC.eventfd_write(raw, 3));
            assertEquals(3, e.read());
            assertEquals(0, e.read());
        }
    }

    @Test
    void pollSeesASignal() {
        try (EventFd e = new EventFd("poll")) {
            assertEquals(0, Syscalls.poll(e.fd(), POLLIN, 0));
            e.signal();
            assertEquals(POLLIN, Syscalls.poll(e.fd(), POLLIN, 1000));
        }
    }

    @Test
    void epollReportsExactlyTheSignalledFdsWithTheirData() {
        List<EventFd> fds = new ArrayList<>();
        try (Epoll epoll = new Epoll("test", 256)) {
            for (int i = 0; i < 200; i++) {
                EventFd e = new EventFd("dev" + i);
                fds.add(e);
                epoll.add(e.fd(), EPOLLIN, 1000 + i);
            }
            assertEquals(0, epoll.waitReady(0));
            Set<Long> expected = Set.of(1003L, 1077L, 1199L);
            for (long d : expected) {
                fds.get((int) (d - 1000)).signal();
            }
            int n = epoll.waitReady(1000);
            Set<Long> seen = new HashSet<>();
            for (int i = 0; i < n; i++) {
                assertEquals(EPOLLIN, epoll.readyEvents(i) & EPOLLIN);
                seen.add(epoll.readyData(i));
            }
            assertEquals(expected, seen);

            // Removing a signalled fd stops its reports.
            epoll.remove(fds.get(3).fd());
            assertEquals(2, epoll.waitReady(0));
        } finally {
            fds.forEach(EventFd::close);
        }
    }

    @Test
    void addingAClosedFdNamesBothEnds() {
        try (Epoll epoll = new Epoll("errors", 4)) {
            EventFd e = new EventFd("gone");
            e.close();
            SyscallException ex = assertThrows(SyscallException.class, () -> epoll.add(e.fd(), EPOLLIN, 0));
            assertEquals("epoll_ctl(EPOLL_CTL_ADD, eventfd:gone) on epoll:errors: Bad file descriptor (EBADF)",
                    ex.getMessage());
        }
    }
}
