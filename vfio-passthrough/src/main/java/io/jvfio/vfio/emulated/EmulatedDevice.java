package io.jvfio.vfio.emulated;

import io.jvfio.vfio.RegionCapability;
import io.jvfio.vfio.VfioIrq;
import io.jvfio.vfio.user.server.VfioUserServer;
import io.jvfio.vmm.linux.OwnedFd;
import io.netty.buffer.ByteBuf;

import java.util.List;

/**
 * A PCI device written in Java and served over vfio-user by a {@link VfioUserServer}: its regions
 * (config space, BARs, some backed by a memfd the client may mmap), its interrupt indexes, and what
 * region accesses do. The server validates every message before the device sees it: region index,
 * bounds, access rights and sizes are already checked when {@link #read} or {@link #write} runs.
 */
public interface EmulatedDevice {

    /**
     * One region as the client sees it. {@code mmapFd} (with {@code mmapOffset}) is the memory the
     * client may map, for regions with VFIO_REGION_INFO_FLAG_MMAP; the device keeps owning it.
     */
    record Region(int flags, long size, OwnedFd mmapFd, long mmapOffset, List<RegionCapability> capabilities) {
        public Region {
            capabilities = List.copyOf(capabilities);
        }

        /** A region the device does not implement (an absent BAR): size 0. */
        public static Region absent() {
            return new Region(0, 0, null, 0, List.of());
        }
    }

    /**
     * A doorbell the device declares: a write of {@code size} bytes at {@code offset} of region
     * {@code region} that needs no emulated reply (it starts work or raises an interrupt). The host
     * backs it with an eventfd, offered to a vfio-user client with VFIO_USER_DEVICE_GET_REGION_IO_FDS
     * (the client hands it to KVM as an ioeventfd: the guest's write signals it without an exit);
     * when it is signalled the host calls {@link #write} with {@code data} exactly as for a trapped
     * write of that register, so the device's code is the same for both. With {@code datamatch} only
     * writes of {@code data} ring it (others stay trapped); without, a write of any value does, and
     * the device sees {@code data}, so only a register whose value does not matter may be one.
     * Kicks that come faster than the device takes them coalesce into one write, as an eventfd's
     * counter does.
     */
    record Doorbell(int region, long offset, int size, boolean datamatch, long data) {
        public Doorbell {
            if (size != 1 && size != 2 && size != 4 && size != 8) {
                throw new IllegalArgumentException("a doorbell is a write of 1, 2, 4 or 8 bytes, not " + size);
            }
        }
    }

    /** What a device reaches while a client is connected, from any thread. */
    interface Context {
        /** Raises vector {@code vector} of interrupt index {@code index}: signals the client's eventfd, or
         *  sets the pending bit if the vector is masked or has no eventfd yet. */
        void raise(int index, int vector);

        /** Whether interrupt index {@code index}, vector {@code vector}, is pending (for an MSI-X PBA). */
        boolean pending(int index, int vector);

        /**
         * Deasserts a level-triggered line (INTx): an assertion still pending behind the mask is dropped,
         * and unmasking no longer re-delivers it.
         */
        void lower(int index, int vector);

        /**
         * True if the client has assigned a trigger eventfd to some vector of {@code index}: how a
         * device learns which of INTx, MSI and MSI-X the driver enabled (the client virtualizes the
         * enable bits in config space and uses DEVICE_SET_IRQS, as with kernel VFIO).
         */
        boolean enabled(int index);

        /** Reads guest memory the client mapped for DMA, checked against its mappings. */
        void dmaRead(long address, byte[] dst, int offset, int length);

        /** Writes guest memory the client mapped for DMA, checked against its mappings. */
        void dmaWrite(long address, byte[] src, int offset, int length);
    }

    /** The device's flags for DEVICE_GET_INFO: VFIO_DEVICE_FLAGS_PCI, and _RESET if it can reset. */
    int flags();

    /** The regions, by VFIO index (BAR0..BAR5, ROM, CONFIG, VGA, then device-specific ones). */
    List<Region> regions();

    /** The interrupt indexes, by VFIO index (INTx, MSI, MSI-X, ERR, REQ). */
    List<VfioIrq> irqs();

    /** The device's doorbells ({@link Doorbell}); none by default. */
    default List<Doorbell> doorbells() {
        return List.of();
    }

    /** Reads {@code count} bytes of region {@code region} at {@code offset} into {@code dst}. */
    void read(int region, long offset, ByteBuf dst, int count);

    /** Writes {@code count} bytes from {@code src} to region {@code region} at {@code offset}. */
    void write(int region, long offset, ByteBuf src, int count);

    /**
     * The memory behind region {@code region} when it is plain memory (a RAM BAR on a memfd: reads
     * and writes have no effect but on its bytes), as a direct buffer over the whole region; null
     * otherwise (the default). For such a region the server moves large REGION_READ/WRITE data
     * straight between the socket and this memory, without {@link #read}/{@link #write} and without
     * copying it through a buffer of its own; small accesses still go to {@link #read}/{@link #write}.
     * Asked once, when a client connects.
     */
    default java.nio.ByteBuffer memory(int region) {
        return null;
    }

    /** VFIO_USER_DEVICE_RESET. */
    void reset();

    /** A client connected; its interrupts and DMA are reachable through {@code context} until {@link #detach}. */
    void attach(Context context);

    /** The client left; DMA mappings and interrupt eventfds are gone. The device keeps its state. */
    void detach();
}
