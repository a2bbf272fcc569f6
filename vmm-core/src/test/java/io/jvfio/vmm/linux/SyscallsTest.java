package io.jvfio.vmm.linux;

import io.jvfio.vmm.linux.jna.DirectBuffers;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static io.jvfio.vmm.linux.jna.LinuxConstants.MAP_SHARED;
import static io.jvfio.vmm.linux.jna.LinuxConstants.O_RDONLY;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_READ;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_WRITE;
import static io.jvfio.vmm.linux.jna.LinuxConstants.SOCK_STREAM;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The syscall layer against the real kernel: memfds, mmap, pread/pwrite and the error type. */
class SyscallsTest {

    @Test
    void aFailedOpenNamesTheCallThePathAndTheErrno() {
        SyscallException e = assertThrows(SyscallException.class,
                () -> Syscalls.open("/nonexistent/jvfio", O_RDONLY));
        assertEquals("open on /nonexistent/jvfio: No such file or directory (ENOENT)", e.getMessage());
        assertEquals(Errno.ENOENT, e.errno());
        assertTrue(e.is(Errno.ENOENT));
        assertEquals("open", e.operation());
        assertEquals("/nonexistent/jvfio", e.object());
    }

    @Test
    void theMessageFormatOfTheBrief() {
        SyscallException e = new SyscallException("VFIO_GROUP_SET_CONTAINER", "/dev/vfio/26", 16);
        assertEquals("VFIO_GROUP_SET_CONTAINER on /dev/vfio/26: Device or resource busy (EBUSY)", e.getMessage());
        assertEquals("mmap: Unknown error 300 (errno 300)", new SyscallException("mmap", "", 300).getMessage());
    }

    @Test
    void twoSharedMappingsOfOneMemfdSeeTheSameBytes() {
        long size = 2 * Syscalls.pageSize();
        try (OwnedFd memfd = Syscalls.memfdCreate("shared", 0)) {
            Syscalls.ftruncate(memfd, size);
            try (MemoryMapping a = MemoryMapping.map(memfd, 0, size, PROT_READ | PROT_WRITE, MAP_SHARED);
                 MemoryMapping b = MemoryMapping.map(memfd, 0, size, PROT_READ | PROT_WRITE, MAP_SHARED)) {
                assertTrue(a.address() != b.address(), "two mappings, two addresses");
                a.byteBuffer().putLong(4096 + 8, 0x0123456789abcdefL);
                assertEquals(0x0123456789abcdefL, b.byteBuffer().getLong(4096 + 8));

                // pread through the fd sees the same page cache.
                ByteBuffer out = ByteBuffer.allocateDirect(8);
                assertEquals(8, Syscalls.pread(memfd, DirectBuffers.address(out), 8, 4096 + 8));
                assertEquals(0x0123456789abcdefL, out.order(java.nio.ByteOrder.nativeOrder()).getLong(0));

                // pwrite through the fd shows up in the mapping.
                out.putLong(0, 0x1122334455667788L);
                assertEquals(8, Syscalls.pwrite(memfd, DirectBuffers.address(out), 8, 16));
                assertEquals(0x1122334455667788L, a.byteBuffer().getLong(16));
            }
        }
    }

    @Test
    void aMappingRefusesViewsOutsideItAndAfterClose() {
        try (OwnedFd memfd = Syscalls.memfdCreate("bounds", 0)) {
            Syscalls.ftruncate(memfd, 4096);
            MemoryMapping m = MemoryMapping.map(memfd, 0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED);
            assertThrows(IndexOutOfBoundsException.class, () -> m.byteBuffer(4090, 8));
            m.close();
            m.close(); // once only
            assertFalse(m.isMapped());
            assertThrows(IllegalStateException.class, () -> m.byteBuffer(0, 8));
        }
    }

    @Test
    void aFailedMmapNamesTheMapping() {
        try (OwnedFd memfd = Syscalls.memfdCreate("small", 0)) {
            // mmap offsets must be page-aligned.
            SyscallException e = assertThrows(SyscallException.class,
                    () -> MemoryMapping.map(memfd, 1, 4096, PROT_READ, MAP_SHARED));
            assertEquals("mmap on memfd:small at 0x1+0x1000: Invalid argument (EINVAL)", e.getMessage());
        }
    }

    @Test
    void fstatTellsAMemfdFromASocket() {
        try (OwnedFd memfd = Syscalls.memfdCreate("stat", 0)) {
            Syscalls.ftruncate(memfd, 12345);
            FileStat st = FileStat.of(memfd);
            assertEquals(12345, st.size());
            assertTrue(st.isRegularFile(), "a memfd is a regular file: " + Integer.toOctalString(st.mode()));
        }
        OwnedFd[] pair = Syscalls.socketpair(SOCK_STREAM, "stat");
        try (OwnedFd a = pair[0]; OwnedFd b = pair[1]) {
            assertFalse(FileStat.of(a).isRegularFile(), "a socket is not a regular file");
        }
    }

    /**
     * Counts only this test's own memfds: the JVM's other threads open and close files meanwhile (CI saw
     * the process's whole count move by one under this test).
     */
    @Test
    void ownedFdClosesExactlyOnceAndLeavesNothingOpen() throws IOException {
        for (int i = 0; i < 100; i++) {
            OwnedFd fd = Syscalls.memfdCreate("leak-check", 0);
            assertEquals(1, openFds("/memfd:leak-check "));
            fd.close();
            fd.close(); // the second does nothing: the number may be another file's by now
            assertEquals(-1, fd.get());
            assertEquals(0, openFds("/memfd:leak-check "), "memfd " + i + " left open");
        }
    }

    /**
     * How many of this process's fds link to what starts with {@code target} ({@code /memfd:NAME },
     * {@code anon_inode:[eventfd]}): a count of one kind, which the JVM's other threads do not move.
     */
    static long openFds(String target) throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).toString().startsWith(target);
                } catch (IOException e) {
                    return false; // closed meanwhile (the listing's own fd, another thread's)
                }
            }).count();
        }
    }


    @Test
    void theMemlockLimitIsTheOneTheKernelReports() throws IOException {
        ResourceLimit limit = ResourceLimit.memlock();
        String line;
        try (Stream<String> lines = Files.lines(Path.of("/proc/self/limits"))) {
            line = lines.filter(l -> l.startsWith("Max locked memory")).findFirst().orElseThrow();
        }
        String[] cols = line.substring("Max locked memory".length()).trim().split("\\s+");
        assertEquals(parseLimit(cols[0]), limit.soft(), line);
        assertEquals(parseLimit(cols[1]), limit.hard(), line);
    }

    private static long parseLimit(String s) {
        return s.equals("unlimited") ? ResourceLimit.UNLIMITED : Long.parseLong(s);
    }

    @Test
    void pageSizeComesFromTheKernel() {
        assertEquals(4096, Syscalls.pageSize());
    }

    @Test
    void aRegistersValueIsReadAndWrittenLittleEndianWithNothingAllocated() {
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        try (OwnedFd memfd = Syscalls.memfdCreate("registers", 0)) {
            Syscalls.ftruncate(memfd, 64);
            Syscalls.pwriteValue(memfd, 0x8877_6655_4433_2211L, 8, 0);
            ByteBuffer bytes = ByteBuffer.allocateDirect(8);
            assertEquals(8, Syscalls.pread(memfd, DirectBuffers.address(bytes), 8, 0));
            assertEquals(0x11, bytes.get(0), "little-endian: the low byte first");
            assertEquals((byte) 0x88, bytes.get(7));
            assertEquals(0x11, Syscalls.preadValue(memfd, 1, 0));
            assertEquals(0x2211, Syscalls.preadValue(memfd, 2, 0));
            assertEquals(0x4433_2211L, Syscalls.preadValue(memfd, 4, 0), "zero-extended, not sign-extended");
            assertEquals(0x8877_6655_4433_2211L, Syscalls.preadValue(memfd, 8, 0));
            Syscalls.pwriteValue(memfd, 0xFFFF_FFFF_FFFF_ABCDL, 2, 8); // only the low 2 bytes go
            assertEquals(0xABCD, Syscalls.preadValue(memfd, 8, 8));

            SyscallException shortRead = assertThrows(SyscallException.class, () -> Syscalls.preadValue(memfd, 8, 60));
            assertEquals(Errno.EIO, shortRead.errno(), shortRead.getMessage());
            assertTrue(shortRead.getMessage().contains("(4 came)"), shortRead.getMessage());

            // A trapped register's access is a vCPU's MMIO path: it allocates nothing (a count of bytes).
            for (int i = 0; i < 20_000; i++) {
                Syscalls.pwriteValue(memfd, Syscalls.preadValue(memfd, 4, 16) + 1, 4, 16);
            }
            long before = threads.getThreadAllocatedBytes(Thread.currentThread().getId());
            for (int i = 0; i < 20_000; i++) {
                Syscalls.pwriteValue(memfd, Syscalls.preadValue(memfd, 4, 16) + 1, 4, 16);
            }
            long allocated = threads.getThreadAllocatedBytes(Thread.currentThread().getId()) - before;
            assertEquals(40_000, Syscalls.preadValue(memfd, 4, 16));
            assertTrue(allocated < 4096, allocated + " bytes over 20000 reads and writes");
        }
    }
}
