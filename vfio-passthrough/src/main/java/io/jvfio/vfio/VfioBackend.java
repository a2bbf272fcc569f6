package io.jvfio.vfio;

import io.jvfio.vfio.kernel.VfioDevice;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.MemoryMapping;

import java.util.List;

/**
 * A device behind VFIO's interface, whichever transport carries it: the kernel ({@link VfioDevice})
 * or vfio-user ({@code VfioUserClient}). The passthrough device model is written against this alone,
 * as cloud-hypervisor's VfioCommon serves both, so it cannot tell them apart.
 */
public interface VfioBackend extends AutoCloseable {

    /** What the device is, for messages: a PCI address or a vfio-user socket. */
    String name();

    boolean supportsReset();

    /** The regions and interrupt indexes, as read at open. */
    VfioDeviceLayout layout();

    default List<VfioRegion> regions() {
        return layout().regions();
    }

    default VfioRegion region(int index) {
        return layout().region(index);
    }

    default List<VfioIrq> irqs() {
        return layout().irqs();
    }

    default VfioIrq irq(int index) {
        return layout().irq(index);
    }

    /** A little-endian read of 1, 2, 4 or 8 bytes of a region. */
    long read(int region, long offset, int size);

    /** A little-endian write of 1, 2, 4 or 8 bytes to a region; done when this returns. */
    void write(int region, long offset, int size, long value);

    /**
     * A write to a BAR in memory space, which PCI lets be posted: it may not have reached the device
     * when this returns, but a later read of the device comes after it. By default {@link #write};
     * a back end that can post (vfio-user: REGION_WRITE with No_reply) does. I/O space and config
     * space writes are non-posted in PCI and go through {@link #write}.
     */
    default void postedWrite(int region, long offset, int size, long value) {
        write(region, offset, size, value);
    }

    /** Reads {@code length} bytes of a region into native memory at {@code address}; returns the bytes read. */
    long read(int region, long offset, long address, long length);

    /** Writes {@code length} bytes from native memory at {@code address} to a region; returns the bytes written. */
    long write(int region, long offset, long address, long length);

    /** Maps one mmap-able area of a region into this process. */
    MemoryMapping mmap(int region, RegionCapability.Area area);

    /**
     * The doorbells the device offers in region {@code region} ({@link VfioIoEventFd}), which the
     * device model registers as ioeventfds where the BAR sits in the guest; none by default (the
     * kernel's vfio-pci offers none: it takes eventfds instead, {@link #setIoEventFd}).
     */
    default List<VfioIoEventFd> ioEventFds(int region) {
        return List.of();
    }

    /**
     * VFIO_DEVICE_IOEVENTFD: when {@code eventfd} is signalled, the device's driver writes {@code size}
     * bytes of {@code data} at {@code offset} of region {@code region} itself, with no user space in
     * between; {@code eventfd} null removes the one with that offset, size and data. False where the
     * back end cannot (vfio-user has no such request; a region or width the kernel refuses).
     */
    default boolean setIoEventFd(int region, long offset, int size, long data, EventFd eventfd) {
        return false;
    }

    /** Signals {@code eventfds[i]} for vector i of interrupt index {@code index} (null entries unassigned). */
    default void enableIrq(int index, EventFd[] eventfds) {
        setIrqTriggers(index, 0, eventfds);
    }

    /**
     * Signals {@code eventfds[i]} for vector {@code start + i} of {@code index}, leaving the other vectors
     * as they are (one VFIO_DEVICE_SET_IRQS, DATA_EVENTFD | ACTION_TRIGGER, with that start and count; a
     * null entry unassigns its vector). On an index that is off, it is switched on with
     * {@code start + eventfds.length} vectors; on one that is on, vectors past those enabled are added
     * only where the index lacks VFIO_IRQ_INFO_NORESIZE (MSI-X allocated on demand, Linux 6.5 on).
     */
    void setIrqTriggers(int index, int start, EventFd[] eventfds);

    void disableIrq(int index);

    void maskIrq(int index, int vector);

    void unmaskIrq(int index, int vector);

    /** The eventfd that re-arms an automasked interrupt (INTx) when signalled. */
    void setUnmaskEventFd(int index, EventFd unmask);

    /**
     * Why the device is gone (the process serving it stopped answering, or went away), or null while
     * it works. A gone device reads all-ones and drops writes, as a surprise-removed PCI device.
     */
    default String failure() {
        return null;
    }

    /**
     * Who is told, once, why the device is gone ({@link #failure}), instead of the log; told at once
     * if it is gone already. The kernel's devices do not go away under a VMM: nobody is told.
     */
    default void onGone(java.util.function.Consumer<String> observer) {
    }

    /**
     * After a fault in a directly mapped area: which area {@link #mmap} mapped has lost the memory
     * behind it (its file shrank), in words; null if none has. The kernel's regions cannot shrink.
     */
    default String lostMapping() {
        return null;
    }

    /**
     * The DMA address a driver programs into the device for a range of guest RAM: the guest physical
     * address itself through an IOMMU or a vfio-user peer (the default), the host physical address of
     * pinned RAM for a device in VFIO's no-IOMMU mode.
     */
    default DmaAddressing dmaAddressing() {
        return DmaAddressing.GUEST_PHYSICAL;
    }

    /** Resets the device, or throws {@link VfioException.ResetNotSupported}. */
    void reset();

    @Override
    void close();
}
