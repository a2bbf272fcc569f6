package io.jvfio.vfio.emulated.host;

import io.jvfio.JvfioException;
import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.GuestMemoryException;
import io.jvfio.memory.GuestRegion;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vfio.user.protocol.VfioUserException;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.range.RangeMap;
import io.jvfio.vmm.range.Ranged;
import io.jvfio.vmm.range.UnsignedRange;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The client memory a served device may reach by DMA, as the client mapped it with VFIO_USER_DMA_MAP.
 * A window that came with a (sealed) fd is mmap'd into a {@link GuestMemory} at its DMA address,
 * whose accessors check every access against the windows; one that came without (or with an fd that
 * cannot be mapped safely) is reached with DMA_READ/DMA_WRITE messages to the client.
 *
 * <p>DMA addresses are u64 (spec, "VFIO_USER_DMA_MAP"): a window may lie anywhere below 2^64,
 * across 2^63 too, and one that would wrap past 2^64 is refused with EINVAL.
 *
 * <p>The windows a client has mmap'd here take this process's address space, so their sum is
 * bounded ({@code mappedLimit}); over it DMA_MAP gets ENOMEM, the kernel's errno for a VFIO mapping
 * over the locked-memory limit (ENOSPC stays what it is there: too many windows, max_dma_maps).
 * DMA_UNMAP gives the address range back at once (spec: the server "must release all references to
 * that DMA region before replying"): device DMA through mapped windows holds a read lock, and
 * unmapping takes the write lock, so no access can be under way when the range is unmapped.
 */
public final class DeviceDma {

    private static final Logger LOG = LoggerFactory.getLogger(DeviceDma.class);

    /** No bound on the mapped windows: {@code mappedLimit} for a VMM's own guest RAM. */
    public static final long UNBOUNDED = -1L;

    /** One DMA window; {@code region} is null when the window is reached through messages. */
    record Window(long address, long size, boolean readable, boolean writable, GuestRegion region) implements Ranged {
        @Override
        public long base() {
            return address;
        }

        long last() {
            return UnsignedRange.last(address, size);
        }
    }

    /** How a window without a mapping is reached: DMA_READ/DMA_WRITE through the session. */
    public interface Messages {
        void read(long address, byte[] dst, int offset, int length);

        void write(long address, byte[] src, int offset, int length);
    }

    private final GuestMemory memory = new GuestMemory();
    /** By address, as u64: a window at 2^63 or above sorts after one below it. */
    private final RangeMap<Window> windows = new RangeMap<>();
    private final int maxWindows;
    private final long mappedLimit;
    /** Read: a device DMA through a mapped window is under way. Write: the windows change. */
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    /** The bytes of the windows mmap'd here; under the write lock. */
    private long mapped;

    /**
     * @param maxWindows  at most this many windows (max_dma_maps)
     * @param mappedLimit at most this many bytes of windows mmap'd here at once (unsigned; {@link #UNBOUNDED}: none)
     */
    DeviceDma(int maxWindows, long mappedLimit) {
        this.maxWindows = maxWindows;
        this.mappedLimit = mappedLimit;
    }

    /** DMA_MAP: checks the request and maps {@code fd} (owned now) if there is one. */
    public void map(long address, long size, boolean readable, boolean writable, long offset, OwnedFd fd) {
        lock.writeLock().lock();
        try {
            if (!UnsignedRange.valid(address, size)) {
                throw new VfioUserException(Errno.EINVAL, "DMA_MAP of " + UnsignedRange.describe(address, size)
                        + " is not a valid range: it is empty or wraps past 2^64");
            }
            if (((address | size | offset) & 4095) != 0) {
                throw new VfioUserException(Errno.EINVAL, "DMA_MAP address, size and offset must be multiples of the "
                        + "4 KiB page size (pgsizes)");
            }
            if (!readable && !writable) {
                throw new VfioUserException(Errno.EINVAL, "DMA_MAP of a window neither readable nor writable");
            }
            Window w = windows.overlapping(address, size);
            if (w != null) {
                throw new VfioUserException(Errno.EEXIST, "DMA_MAP of [0x" + Long.toHexString(address) + "-0x"
                        + Long.toHexString(UnsignedRange.last(address, size)) + "] overlaps the window [0x"
                        + Long.toHexString(w.address()) + "-0x" + Long.toHexString(w.last()) + "]");
            }
            if (windows.size() >= maxWindows) {
                throw new VfioUserException(Errno.ENOSPC, "DMA_MAP beyond max_dma_maps (" + maxWindows + ")");
            }
            GuestRegion region = null;
            if (fd != null) {
                if (Long.compareUnsigned(size, mappedLimit - mapped) > 0) {
                    throw new VfioUserException(Errno.ENOMEM, "DMA_MAP of 0x" + Long.toHexString(size) + " bytes with "
                            + "an fd: the client's mapped windows would pass this server's bound of 0x"
                            + Long.toHexString(mappedLimit) + " bytes (0x" + Long.toHexString(mapped)
                            + " mapped); unmap some first");
                }
                OwnedFd taken = fd;
                fd = null;
                try {
                    MemoryBackend b = MemoryBackend.ofPeerFd("dma@0x" + Long.toHexString(address), taken, offset, size,
                            writable);
                    region = memory.addRegion(b.id(), address, b);
                    mapped += size;
                } catch (JvfioException e) {
                    LOG.warn("the DMA window at 0x{} is reached through DMA_READ/DMA_WRITE messages instead: {}",
                            Long.toHexString(address), e.getMessage());
                }
            }
            windows.add(new Window(address, size, readable, writable, region));
        } finally {
            lock.writeLock().unlock();
            if (fd != null) {
                fd.close();
            }
        }
    }

    /** DMA_UNMAP: the window must match one exactly. Its memory is unmapped before this returns. */
    public Window unmap(long address, long size) {
        if (!UnsignedRange.valid(address, size)) {
            throw new VfioUserException(Errno.EINVAL, "DMA_UNMAP of " + UnsignedRange.describe(address, size)
                    + " is not a valid range: it is empty or wraps past 2^64");
        }
        lock.writeLock().lock();
        try {
            Window w = windows.at(address);
            if (w == null || w.size() != size) {
                throw new VfioUserException(Errno.ENOENT, "DMA_UNMAP of " + UnsignedRange.describe(address, size)
                        + " matches no DMA_MAP");
            }
            windows.remove(address);
            release(w);
            return w;
        } finally {
            lock.writeLock().unlock();
        }
    }

    private void release(Window w) {
        if (w.region() != null) {
            mapped -= w.size();
            memory.removeRegionAndRelease(w.region());
        }
    }

    public int windows() {
        lock.readLock().lock();
        try {
            return windows.size();
        } finally {
            lock.readLock().unlock();
        }
    }

    /** The bytes of the windows mmap'd here now. */
    public long mappedBytes() {
        lock.readLock().lock();
        try {
            return mapped;
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Every window is unmapped and its fd closed, its memory released before this returns: the client
     * is gone, or it sent DMA_UNMAP with VFIO_DMA_UNMAP_FLAG_ALL.
     */
    public void clear() {
        lock.writeLock().lock();
        try {
            for (Window w : windows.ranges()) {
                release(w);
            }
            windows.clear();
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** The window holding all of the access; the caller holds the read lock. */
    private Window window(long address, int length, boolean write) {
        Window w = length < 0 ? null : windows.find(address, length);
        if (w == null) {
            throw new VfioUserException(Errno.EFAULT, "DMA of " + length + " bytes at 0x" + Long.toHexString(address)
                    + " is outside the client's DMA windows");
        }
        if (write ? !w.writable() : !w.readable()) {
            throw new VfioUserException(Errno.EFAULT, "DMA " + (write ? "write to" : "read from") + " 0x"
                    + Long.toHexString(address) + ": the window is not " + (write ? "writable" : "readable"));
        }
        return w;
    }

    void read(long address, byte[] dst, int offset, int length, Messages viaMessages) {
        lock.readLock().lock();
        try {
            if (window(address, length, false).region() != null) {
                memory.ram().read(address, dst, offset, length);
                return;
            }
        } catch (GuestMemoryException e) {
            throw unexpected(e);
        } finally {
            lock.readLock().unlock();
        }
        // Not under the lock: the reply comes through the event loop, which may be unmapping meanwhile.
        viaMessages.read(address, dst, offset, length);
    }

    void write(long address, byte[] src, int offset, int length, Messages viaMessages) {
        lock.readLock().lock();
        try {
            if (window(address, length, true).region() != null) {
                memory.ram().write(address, src, offset, length);
                return;
            }
        } catch (GuestMemoryException e) {
            throw unexpected(e);
        } finally {
            lock.readLock().unlock();
        }
        viaMessages.write(address, src, offset, length);
    }

    private static VfioUserException unexpected(GuestMemoryException e) {
        return new VfioUserException(Errno.EFAULT, "DMA through a mapped window failed: " + e.getMessage());
    }

    void close() {
        clear();
        memory.close();
    }
}
