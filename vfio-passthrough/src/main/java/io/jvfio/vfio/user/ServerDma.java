package io.jvfio.vfio.user;

import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.GuestMemoryException;
import io.jvfio.memory.GuestRegion;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SyscallException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Map;
import java.util.TreeMap;

/**
 * The client memory a served device may reach by DMA, as the client mapped it with VFIO_USER_DMA_MAP.
 * A window that came with a (sealed) fd is mmap'd into a {@link GuestMemory} at its DMA address,
 * whose accessors check every access against the windows; one that came without (or with an fd that
 * cannot be mapped safely) is reached with DMA_READ/DMA_WRITE messages to the client.
 *
 * <p>Unmapping goes through {@link GuestMemory#removeRegion}, which replaces the mapping with zero
 * pages before releasing it, so a device DMA racing the unmap cannot crash the server.
 */
final class ServerDma {

    private static final Logger LOG = LoggerFactory.getLogger(ServerDma.class);

    /** One DMA window; {@code region} is null when the window is reached through messages. */
    record Window(long address, long size, boolean readable, boolean writable, GuestRegion region) {
        long last() {
            return address + size - 1;
        }
    }

    /** How a window without a mapping is reached: DMA_READ/DMA_WRITE through the session. */
    interface Messages {
        void read(long address, byte[] dst, int offset, int length);

        void write(long address, byte[] src, int offset, int length);
    }

    private final GuestMemory memory = new GuestMemory();
    private final TreeMap<Long, Window> windows = new TreeMap<>();
    private final int maxWindows;

    ServerDma(int maxWindows) {
        this.maxWindows = maxWindows;
    }

    /** DMA_MAP: checks the request and maps {@code fd} (owned now) if there is one. */
    synchronized void map(long address, long size, boolean readable, boolean writable, long offset, OwnedFd fd) {
        try {
            if (size <= 0 || address + size - 1 < address) {
                throw new VfioUserException(Errno.EINVAL, "DMA_MAP of 0x" + Long.toHexString(size) + " bytes at 0x"
                        + Long.toHexString(address) + " is not a valid range");
            }
            if ((address | size | offset) % 4096 != 0) {
                throw new VfioUserException(Errno.EINVAL, "DMA_MAP address, size and offset must be multiples of the "
                        + "4 KiB page size (pgsizes)");
            }
            if (!readable && !writable) {
                throw new VfioUserException(Errno.EINVAL, "DMA_MAP of a window neither readable nor writable");
            }
            Map.Entry<Long, Window> below = windows.floorEntry(address + size - 1);
            if (below != null && below.getValue().last() >= address) {
                Window w = below.getValue();
                throw new VfioUserException(Errno.EEXIST, "DMA_MAP of [0x" + Long.toHexString(address) + "-0x"
                        + Long.toHexString(address + size - 1) + "] overlaps the window [0x" + Long.toHexString(w.address())
                        + "-0x" + Long.toHexString(w.last()) + "]");
            }
            if (windows.size() >= maxWindows) {
                throw new VfioUserException(Errno.ENOSPC, "DMA_MAP beyond max_dma_maps (" + maxWindows + ")");
            }
            GuestRegion region = null;
            if (fd != null) {
                OwnedFd taken = fd;
                fd = null;
                try {
                    MemoryBackend b = MemoryBackend.ofPeerFd("dma@0x" + Long.toHexString(address), taken, offset, size,
                            writable);
                    region = memory.addRegion(b.id(), address, b);
                } catch (GuestMemoryException | SyscallException e) {
                    LOG.warn("the DMA window at 0x{} is reached through DMA_READ/DMA_WRITE messages instead: {}",
                            Long.toHexString(address), e.getMessage());
                }
            }
            windows.put(address, new Window(address, size, readable, writable, region));
        } finally {
            if (fd != null) {
                fd.close();
            }
        }
    }

    /** DMA_UNMAP: the window must match one exactly. Its memory is released before this returns. */
    synchronized Window unmap(long address, long size) {
        Window w = windows.get(address);
        if (w == null || w.size() != size) {
            throw new VfioUserException(Errno.ENOENT, "DMA_UNMAP of [0x" + Long.toHexString(address) + "+0x"
                    + Long.toHexString(size) + "] matches no DMA_MAP");
        }
        windows.remove(address);
        if (w.region() != null) {
            memory.removeRegion(w.region());
        }
        return w;
    }

    synchronized int windows() {
        return windows.size();
    }

    /**
     * Every window is unmapped and its fd closed, its memory released before this returns: the client
     * is gone, or it sent DMA_UNMAP with VFIO_DMA_UNMAP_FLAG_ALL.
     */
    synchronized void clear() {
        for (Window w : windows.values()) {
            if (w.region() != null) {
                memory.removeRegion(w.region());
            }
        }
        windows.clear();
    }

    private synchronized Window window(long address, int length, boolean write) {
        Map.Entry<Long, Window> e = windows.floorEntry(address);
        Window w = e == null ? null : e.getValue();
        if (w == null || length < 0 || address + length - 1 > w.last() || address + length - 1 < address) {
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
        if (window(address, length, false).region() == null) {
            viaMessages.read(address, dst, offset, length);
            return;
        }
        try {
            memory.read(address, dst, offset, length);
        } catch (GuestMemoryException e) {
            throw unmappedMeanwhile(e); // DMA_UNMAP came between the check and the access
        }
    }

    void write(long address, byte[] src, int offset, int length, Messages viaMessages) {
        if (window(address, length, true).region() == null) {
            viaMessages.write(address, src, offset, length);
            return;
        }
        try {
            memory.write(address, src, offset, length);
        } catch (GuestMemoryException e) {
            throw unmappedMeanwhile(e);
        }
    }

    private static VfioUserException unmappedMeanwhile(GuestMemoryException e) {
        return new VfioUserException(Errno.EFAULT, "the DMA window was unmapped during the access: " + e.getMessage());
    }

    void close() {
        clear();
        memory.close();
    }
}
