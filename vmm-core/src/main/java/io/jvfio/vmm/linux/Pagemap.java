package io.jvfio.vmm.linux;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * {@code /proc/self/pagemap}: for each virtual page of this process, one little-endian 64-bit entry
 * at offset {@code (address / page size) * 8} (Documentation/admin-guide/mm/pagemap.rst): bit 63
 * page present, bit 62 page swapped, bits 0-54 the page frame number (PFN) if present. The host
 * physical address of a byte is its page's PFN times the page size plus its offset in the page.
 *
 * <p>Since Linux 4.2 the PFN reads as 0 unless the reader has CAP_SYS_ADMIN; {@link Entry#physicalPage}
 * says so rather than handing out address 0. A page is present only once touched, and stays at that
 * frame only while nothing moves it: a caller that gives the address to a device locks the page first
 * (see {@link Syscalls#mlock} for what that does and does not promise).
 */
public final class Pagemap implements AutoCloseable {

    public static final Path PATH = Path.of("/proc/self/pagemap");

    /** Bit 63: the page is present in RAM. */
    static final long PRESENT = 1L << 63;
    /** Bit 62: the page is swapped out (bits 0-4 are then the swap type, 5-54 the offset). */
    static final long SWAPPED = 1L << 62;
    /** Bits 0-54: the page frame number of a present page. */
    static final long PFN_MASK = (1L << 55) - 1;

    /** One entry of the pagemap, decoded. */
    public record Entry(long raw) {

        public boolean present() {
            return (raw & PRESENT) != 0;
        }

        public boolean swapped() {
            return (raw & SWAPPED) != 0;
        }

        /** The page frame number; 0 for a page not present, or for a reader without CAP_SYS_ADMIN. */
        public long pfn() {
            return present() ? raw & PFN_MASK : 0;
        }

        /**
         * The host physical address of the page at {@code virtualPage} ({@code pageSize} bytes), or an
         * error that says why there is none: not present (never touched, or swapped out), or its PFN
         * hidden from a process without CAP_SYS_ADMIN.
         */
        public long physicalPage(long virtualPage, long pageSize) {
            if (!present()) {
                throw new IllegalStateException("the page at 0x" + Long.toHexString(virtualPage) + " is not in RAM ("
                        + (swapped() ? "swapped out" : "never touched") + "), so it has no physical address: lock it "
                        + "(mlock) before asking");
            }
            if (pfn() == 0) {
                throw new IllegalStateException(PATH + " shows the page at 0x" + Long.toHexString(virtualPage)
                        + " present but with page frame number 0: the kernel hides physical addresses from a process "
                        + "without CAP_SYS_ADMIN; run as root or with CAP_SYS_ADMIN");
            }
            return pfn() * pageSize;
        }
    }

    private final FileChannel channel;
    private final long pageSize = Syscalls.pageSize();
    private final ByteBuffer entry = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);

    private Pagemap(FileChannel channel) {
        this.channel = channel;
    }

    /** Opens this process's pagemap. */
    public static Pagemap open() {
        try {
            return new Pagemap(FileChannel.open(PATH, StandardOpenOption.READ));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open " + PATH + " (a kernel without CONFIG_PROC_PAGE_MONITOR?)", e);
        }
    }

    /** The system page size, the granule of the pagemap. */
    public long pageSize() {
        return pageSize;
    }

    /** The entry of the virtual page holding {@code address}. */
    public synchronized Entry entry(long address) {
        long offset = Long.divideUnsigned(address, pageSize) * 8;
        entry.clear();
        try {
            while (entry.hasRemaining()) {
                if (channel.read(entry, offset + entry.position()) < 0) {
                    throw new IOException("end of file at offset 0x" + Long.toHexString(offset));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + PATH + " for address 0x" + Long.toHexString(address), e);
        }
        return new Entry(entry.getLong(0));
    }

    /** The host physical address of the byte at {@code address} of this process (see {@link Entry#physicalPage}). */
    public long physicalAddress(long address) {
        long page = address & -pageSize;
        return entry(address).physicalPage(page, pageSize) + (address - page);
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
