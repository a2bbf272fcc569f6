package io.jvfio.memory;

import io.jvfio.vmm.linux.MemoryMapping;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.range.UnsignedRange;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static io.jvfio.vmm.linux.jna.LinuxConstants.F_SEAL_GROW;
import static io.jvfio.vmm.linux.jna.LinuxConstants.F_SEAL_SEAL;
import static io.jvfio.vmm.linux.jna.LinuxConstants.F_SEAL_SHRINK;
import static io.jvfio.vmm.linux.jna.LinuxConstants.MAP_SHARED;
import static io.jvfio.vmm.linux.jna.LinuxConstants.MFD_ALLOW_SEALING;
import static io.jvfio.vmm.linux.jna.LinuxConstants.MFD_HUGETLB;
import static io.jvfio.vmm.linux.jna.LinuxConstants.O_RDWR;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_READ;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_WRITE;

/**
 * The memory behind guest RAM: a memfd (QEMU's {@code memory-backend-memfd}) or a file, typically on
 * hugetlbfs ({@code memory-backend-file}), mmap'd MAP_SHARED once. Because it is a shared file
 * mapping, its fd can be handed to another process (a vfio-user server) which then sees the same
 * pages. A memfd is sealed against shrinking and growing, so no holder of the fd can truncate it
 * under the VMM (which would turn the VMM's next access into SIGBUS).
 */
public final class MemoryBackend implements AutoCloseable {

    private final String id;
    private final long size;
    private final long pageSize;
    private final OwnedFd fd;
    private final MemoryMapping mapping;
    private final String description;

    private MemoryBackend(String id, long size, long pageSize, OwnedFd fd, MemoryMapping mapping, String description) {
        this.id = id;
        this.size = size;
        this.pageSize = pageSize;
        this.fd = fd;
        this.mapping = mapping;
        this.description = description;
    }

    /** Creates the backend a configuration describes. */
    public static MemoryBackend create(MemoryBackendConfig config) {
        return switch (config.type()) {
            case MEMFD -> memfd(config.id(), config.size(), config.hugetlb());
            case FILE -> file(config.id(), config.size(), Path.of(config.memPath()));
        };
    }

    /** A memfd of {@code size} bytes, on huge pages if {@code hugetlb}. */
    public static MemoryBackend memfd(String id, long size, boolean hugetlb) {
        long pageSize = hugetlb ? HugePages.defaultSize() : Syscalls.pageSize();
        checkSize("memory-backend-memfd", id, size, pageSize, hugetlb);
        OwnedFd fd = Syscalls.memfdCreate(id, MFD_ALLOW_SEALING | (hugetlb ? MFD_HUGETLB : 0));
        try {
            Syscalls.ftruncate(fd, size);
            Syscalls.addSeals(fd, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
            MemoryMapping m = map(fd, size, "memory-backend-memfd", id, hugetlb, pageSize);
            return new MemoryBackend(id, size, pageSize, fd, m,
                    "memfd" + (hugetlb ? ", " + Sizes.format(pageSize) + " huge pages" : ""));
        } catch (RuntimeException e) {
            fd.close();
            throw e;
        }
    }

    /**
     * A file of {@code size} bytes: in {@code memPath} if it is a directory (a new file, unlinked at
     * once so nothing is left behind), else at {@code memPath} itself. On hugetlbfs, the mount's page
     * size applies.
     */
    public static MemoryBackend file(String id, long size, Path memPath) {
        Path mount = memPath.toAbsolutePath();
        HugePages.Mount hugetlbfs = HugePages.mountOf(mount);
        long pageSize = hugetlbfs != null ? hugetlbfs.pageSize() : Syscalls.pageSize();
        boolean hugetlb = hugetlbfs != null;
        checkSize("memory-backend-file", id, size, pageSize, hugetlb);
        OwnedFd fd;
        String where;
        try {
            if (Files.isDirectory(memPath)) {
                Path tmp = Files.createTempFile(memPath, "jvfio-" + id + "-", ".ram");
                try {
                    fd = Syscalls.open(tmp.toString(), O_RDWR);
                } finally {
                    Files.delete(tmp);
                }
                where = "unlinked file in " + memPath;
            } else if (Files.isRegularFile(memPath)) {
                fd = Syscalls.open(memPath.toString(), O_RDWR);
                where = "file " + memPath;
            } else {
                // QEMU's file_ram_open creates a missing mem-path (0644) and keeps it; jvfio refuses, so a
                // mistyped path leaves no guest-RAM-sized file behind.
                throw new GuestMemoryException("memory-backend-file '" + id + "': mem-path " + memPath
                        + (Files.exists(memPath, java.nio.file.LinkOption.NOFOLLOW_LINKS) ? " is neither a directory "
                        + "nor a regular file" : " does not exist") + "; give an existing directory (e.g. a hugetlbfs "
                        + "mount such as /dev/hugepages) or an existing file");
            }
        } catch (IOException e) {
            throw new GuestMemoryException("memory-backend-file '" + id + "': cannot create a file in " + memPath + ": "
                    + e.getMessage(), e);
        } catch (SyscallException e) {
            throw new GuestMemoryException("memory-backend-file '" + id + "': " + e.getMessage(), e);
        }
        try {
            Syscalls.ftruncate(fd, size);
            MemoryMapping m = map(fd, size, "memory-backend-file", id, hugetlb, pageSize);
            return new MemoryBackend(id, size, pageSize, fd, m, where
                    + (hugetlb ? ", " + Sizes.format(pageSize) + " huge pages" : ""));
        } catch (RuntimeException e) {
            fd.close();
            throw e;
        }
    }

    /**
     * Memory another process shares: {@code size} bytes of {@code fd} from {@code offset} (a vfio-user
     * client's guest RAM, received with DMA_MAP), mapped read-write or read-only. The backend owns
     * {@code fd}. Only an fd sealed against shrinking is safe to map: otherwise its owner could
     * truncate it and turn this process's next access into SIGBUS, so such an fd is refused, as is a
     * range that does not lie inside the file.
     */
    public static MemoryBackend ofPeerFd(String id, OwnedFd fd, long offset, long size, boolean writable) {
        try {
            int seals;
            try {
                seals = Syscalls.seals(fd);
            } catch (SyscallException e) {
                seals = 0; // not a memfd: it cannot be sealed
            }
            if ((seals & F_SEAL_SHRINK) == 0) {
                throw new GuestMemoryException("'" + id + "' is not sealed against shrinking (F_SEAL_SHRINK), so its "
                        + "owner could truncate it under this process; it is not mapped");
            }
            long page = Syscalls.pageSize();
            if (size <= 0 || offset % page != 0 || size % page != 0) {
                throw new GuestMemoryException("'" + id + "': offset 0x" + Long.toHexString(offset) + " and size 0x"
                        + Long.toHexString(size) + " must be positive multiples of the page size");
            }
            // Pages past the end of the file would SIGBUS on access; the seal keeps the end where it is now.
            io.jvfio.vmm.linux.FileStat stat = io.jvfio.vmm.linux.FileStat.of(fd);
            if (!stat.isRegularFile() || !UnsignedRange.fits(offset, size, stat.size())) {
                throw new GuestMemoryException("'" + id + "': [0x" + Long.toHexString(offset) + "+0x"
                        + Long.toHexString(size) + ") is not inside the " + stat.size() + "-byte file behind the fd");
            }
            MemoryMapping m = MemoryMapping.map(fd, offset, size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED);
            return new MemoryBackend(id, size, page, fd, m, "shared by a peer at fd offset 0x" + Long.toHexString(offset));
        } catch (RuntimeException e) {
            fd.close();
            throw e;
        }
    }

    private static void checkSize(String type, String id, long size, long pageSize, boolean hugetlb) {
        if (size <= 0) {
            throw new GuestMemoryException(type + " '" + id + "': size must be positive, not " + size);
        }
        if (size % pageSize != 0) {
            throw new GuestMemoryException(type + " '" + id + "': size " + Sizes.format(size) + " is not a multiple of "
                    + (hugetlb ? "the huge page size (" : "the page size (") + Sizes.format(pageSize) + ")");
        }
    }

    private static MemoryMapping map(OwnedFd fd, long size, String type, String id, boolean hugetlb, long pageSize) {
        try {
            return MemoryMapping.map(fd, 0, size, PROT_READ | PROT_WRITE, MAP_SHARED);
        } catch (SyscallException e) {
            if (hugetlb && e.errnoValue() == io.jvfio.vmm.linux.Errno.ENOMEM.number()) {
                long pages = size / pageSize;
                throw new GuestMemoryException(type + " '" + id + "': cannot get " + pages + " huge pages of "
                        + Sizes.format(pageSize) + " (" + HugePages.free(pageSize) + " free); reserve them, e.g. "
                        + "echo " + pages + " > /proc/sys/vm/nr_hugepages", e);
            }
            throw e;
        }
    }

    /** The backend's name ({@code id=}), or {@code pc.ram} for the RAM of {@code -m}. */
    public String id() {
        return id;
    }

    public long size() {
        return size;
    }

    /** The page size of the backing memory: the system page, or the huge page size. */
    public long pageSize() {
        return pageSize;
    }

    /** The fd to hand to another process; owned by this backend. */
    public OwnedFd fd() {
        return fd;
    }

    /** Where byte 0 is mapped in this process. */
    public long hostAddress() {
        return mapping.address();
    }

    MemoryMapping mapping() {
        return mapping;
    }

    /**
     * Stops backing anything: the shared mapping is replaced with zero pages (so a thread that still
     * holds a view cannot crash the JVM) and the fd is closed, which frees the memory once no other
     * process holds it. The address range itself is released by {@link #close()}.
     */
    void retire() {
        if (mapping.isMapped()) {
            mapping.replaceWithZeroPages();
        }
        fd.close();
    }

    /** Unmaps and closes; the memory is freed once no other process holds the fd. */
    @Override
    public void close() {
        try {
            mapping.close();
        } finally {
            fd.close();
        }
    }

    @Override
    public String toString() {
        return "'" + id + "' (" + Sizes.format(size) + ", " + description + ")";
    }

    /** The huge pages of this machine, from /proc. */
    static final class HugePages {

        record Mount(Path path, long pageSize) {
        }

        private HugePages() {
        }

        /** {@code Hugepagesize} of /proc/meminfo: what MFD_HUGETLB uses. */
        static long defaultSize() {
            for (String line : lines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("Hugepagesize:")) {
                    return kilobytes(line);
                }
            }
            throw new GuestMemoryException("this kernel reports no huge page size (/proc/meminfo has no Hugepagesize)");
        }

        /** Free huge pages of {@code pageSize}, from sysfs. */
        static long free(long pageSize) {
            Path p = Path.of("/sys/kernel/mm/hugepages/hugepages-" + (pageSize >> 10) + "kB/free_hugepages");
            List<String> l = lines(p);
            return l.isEmpty() ? 0 : Long.parseLong(l.get(0).trim());
        }

        /** The hugetlbfs mount holding {@code path}, or null if it is on another file system. */
        static Mount mountOf(Path path) {
            Mount best = null;
            for (String line : lines(Path.of("/proc/self/mounts"))) {
                String[] f = line.split(" ");
                if (f.length < 4 || !f[2].equals("hugetlbfs")) {
                    continue;
                }
                Path mountPoint = Path.of(f[1].replace("\\040", " "));
                if (path.startsWith(mountPoint) && (best == null || mountPoint.getNameCount() > best.path.getNameCount())) {
                    long size = defaultSize();
                    for (String opt : f[3].split(",")) {
                        if (opt.startsWith("pagesize=")) {
                            size = parseSize(opt.substring("pagesize=".length()));
                        }
                    }
                    best = new Mount(mountPoint, size);
                }
            }
            return best;
        }

        private static long parseSize(String s) {
            char unit = Character.toUpperCase(s.charAt(s.length() - 1));
            long n = Long.parseLong(s.substring(0, s.length() - 1));
            return switch (unit) {
                case 'K' -> n << 10;
                case 'M' -> n << 20;
                case 'G' -> n << 30;
                default -> Long.parseLong(s);
            };
        }

        private static long kilobytes(String meminfoLine) {
            String[] f = meminfoLine.trim().split("\\s+");
            return Long.parseLong(f[1]) << 10;
        }

        private static List<String> lines(Path p) {
            try {
                return Files.readAllLines(p);
            } catch (java.nio.file.NoSuchFileException e) {
                return List.of();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
