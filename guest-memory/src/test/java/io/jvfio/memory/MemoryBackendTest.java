package io.jvfio.memory;

import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.MemoryMapping;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.testing.Prerequisites;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static io.jvfio.vmm.linux.jna.LinuxConstants.F_SEAL_GROW;
import static io.jvfio.vmm.linux.jna.LinuxConstants.F_SEAL_SEAL;
import static io.jvfio.vmm.linux.jna.LinuxConstants.F_SEAL_SHRINK;
import static io.jvfio.vmm.linux.jna.LinuxConstants.MAP_SHARED;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_READ;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_WRITE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Backends on real memfds, files and huge pages. */
class MemoryBackendTest {

    @Test
    void aMemfdIsSealedSoAPeerCannotTruncateIt() {
        try (MemoryBackend ram = MemoryBackend.memfd("sealed", 1 << 20, false);
             OwnedFd peer = Syscalls.dup(ram.fd())) {
            assertEquals(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, Syscalls.seals(ram.fd()));
            // What a hostile vfio-user server would try: shrinking the memory under the VMM.
            assertEquals(-1, LibC.ftruncate(peer.get(), 0));
            assertEquals(Errno.EPERM.number(), LibC.errno());
            assertEquals(-1, LibC.ftruncate(peer.get(), 2 << 20));
            assertTrue(ram.fd().name().startsWith("memfd:sealed"));
        }
    }

    @Test
    void aPeersMemfdIsMappedOnlyWhenSealedAndOnlyInsideTheFile() {
        try (MemoryBackend ram = MemoryBackend.memfd("peer-ram", 1 << 20, false)) {
            new com.sun.jna.Pointer(ram.hostAddress()).setLong(8192, 0x1122334455667788L);
            // A window inside the file: the same pages.
            try (MemoryBackend view = MemoryBackend.ofPeerFd("window", Syscalls.dup(ram.fd()), 8192, 4096, false)) {
                assertEquals(0x1122334455667788L, new com.sun.jna.Pointer(view.hostAddress()).getLong(0));
            }
            // Past the end: the pages would SIGBUS on access, so the mapping is refused.
            GuestMemoryException beyond = assertThrows(GuestMemoryException.class,
                    () -> MemoryBackend.ofPeerFd("beyond", Syscalls.dup(ram.fd()), 1 << 20, 4096, true));
            assertEquals("'beyond': [0x100000+0x1000) is not inside the 1048576-byte file behind the fd",
                    beyond.getMessage());
        }
        // Unsealed: its owner could truncate it under us.
        OwnedFd loose = Syscalls.memfdCreate("loose", 0);
        Syscalls.ftruncate(loose, 4096);
        GuestMemoryException unsealed = assertThrows(GuestMemoryException.class,
                () -> MemoryBackend.ofPeerFd("loose", loose, 0, 4096, true));
        assertTrue(unsealed.getMessage().contains("not sealed against shrinking (F_SEAL_SHRINK)"), unsealed.getMessage());
        assertTrue(!loose.isOpen(), "a refused fd is closed, as the caller handed it over");
    }

    @Test
    void sizesMustBePageMultiples() {
        assertEquals("memory-backend-memfd 'odd': size 4097B is not a multiple of the page size (4K)",
                assertThrows(GuestMemoryException.class, () -> MemoryBackend.memfd("odd", 4097, false)).getMessage());
        assertEquals("memory-backend-memfd 'none': size must be positive, not 0",
                assertThrows(GuestMemoryException.class, () -> MemoryBackend.memfd("none", 0, false)).getMessage());
        assertEquals("memory-backend-memfd 'huge': size 1M is not a multiple of the huge page size (2M)",
                assertThrows(GuestMemoryException.class, () -> MemoryBackend.memfd("huge", 1 << 20, true)).getMessage());
    }

    @Test
    void aFileBackendInADirectoryLeavesNoFileBehind(@TempDir Path dir) throws IOException {
        try (MemoryBackend ram = MemoryBackend.file("f", 1 << 20, dir);
             MemoryMapping peer = MemoryMapping.map(ram.fd(), 0, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED)) {
            try (Stream<Path> files = Files.list(dir)) {
                assertEquals(0, files.count(), "the file is unlinked at once");
            }
            try (GuestMemory mem = new GuestMemory()) {
                mem.addRegion("f", 0, ram);
                mem.ram().writeU32(64, 0xcafe);
                assertEquals(0xcafe, peer.byteBuffer().order(ByteOrder.LITTLE_ENDIAN).getInt(64));
            }
        }
    }

    @Test
    void aFileBackendAtAPathUsesThatFile(@TempDir Path dir) throws IOException {
        Path file = Files.createFile(dir.resolve("guest.ram")); // an existing file: a missing one is refused (issue 13)
        try (MemoryBackend ram = MemoryBackend.file("named", 64 << 10, file)) {
            assertTrue(Files.exists(file));
            assertEquals(64 << 10, file.toFile().length());
            assertEquals(file.toString(), ram.fd().name());
        }
    }

    /**
     * Makes a machine that cannot give this test two huge pages fail it instead of skipping the
     * huge-page half (./run-tests and CI require it; a plain {@code mvn verify} as a user skips it, with
     * the reason).
     */
    static final String HUGEPAGES = "jvfio.hugepages";

    @Test
    void hugePagesWhenTheMachineHasThemAndAClearErrorWhenNot() throws IOException {
        long pageSize = MemoryBackend.HugePages.defaultSize();
        long free = MemoryBackend.HugePages.free(pageSize);
        // Asking for more than is free must fail with the numbers and the fix, not a bare ENOMEM.
        long tooMany = (free + 2) * pageSize;
        GuestMemoryException e = assertThrows(GuestMemoryException.class,
                () -> MemoryBackend.memfd("big", tooMany, true));
        assertEquals("memory-backend-memfd 'big': cannot get " + (free + 2) + " huge pages of " + Sizes.format(pageSize)
                + " (" + free + " free); reserve them, e.g. echo " + (free + 2) + " > /proc/sys/vm/nr_hugepages",
                e.getMessage());

        // With pages reserved (this test reserves two if it may, and gives them back), it works.
        Path nr = Path.of("/proc/sys/vm/nr_hugepages");
        long before = Long.parseLong(Files.readString(nr).trim());
        boolean reserved = false;
        if (free < 2) {
            if (!Files.isWritable(nr)) {
                throw Prerequisites.missing(HUGEPAGES, "no free huge pages of " + Sizes.format(pageSize) + " (" + free
                        + " free) and no permission to reserve some: run the tests as root, or reserve two first (as root:"
                        + " echo " + (before + 2 - free) + " > " + nr + ")");
            }
            Files.writeString(nr, Long.toString(before + 2 - free));
            reserved = true;
        }
        try {
            if (MemoryBackend.HugePages.free(pageSize) < 2) {
                throw Prerequisites.missing(HUGEPAGES, "the kernel could not reserve 2 huge pages of "
                        + Sizes.format(pageSize) + " (" + MemoryBackend.HugePages.free(pageSize) + " free after writing "
                        + nr + "): its memory is too fragmented or too small; reserve them at boot (hugepages=2)");
            }
            try (MemoryBackend ram = MemoryBackend.memfd("huge", 2 * pageSize, true);
                 GuestMemory mem = new GuestMemory()) {
                assertEquals(pageSize, ram.pageSize());
                mem.addRegion("huge", 0, ram);
                mem.ram().writeU64(pageSize + 8, 77);
                assertEquals(77, mem.ram().readU64(pageSize + 8));
            }
        } finally {
            if (reserved) {
                Files.writeString(nr, Long.toString(before));
            }
        }
    }
}
