package io.jvfio.launcher.driver;

import io.jvfio.JvfioException;
import io.jvfio.memory.GuestMemory;
import io.jvfio.vfio.DmaAddressing;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.pci.PciBar;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciFunction;
import io.jvfio.vmm.pci.PciHostBridge;

import java.util.List;

/**
 * What a driver drives, and how it reaches it: guest RAM, the address space, the host bridge,
 * optionally the function to drive ({@code null}: the first edu-compatible one on the bus), the DMA
 * addresses its device sees guest RAM at (its back end's {@link DmaAddressing}), a watch on the
 * machine's devices, which tells the driver when one of them has gone away, and the DMA addressing of
 * any other function by its bus, device and function ({@code bus << 8 | devfn}): how the hotplug
 * service learns it for a device added behind a root port.
 */
public record DriverTarget(GuestMemory memory, AddressSpace space, PciHostBridge bridge, PciDevFn device,
                           DmaAddressing dma, Watch watch, java.util.function.IntFunction<DmaAddressing> dmaAt) {

    /** Whether a device of the machine went away under the driver, and why. */
    public interface Watch {
        /** Why a device is gone (its server stopped answering, or went away), or null; cheap. */
        String gone();

        /** After a fault in directly mapped memory: which device's mapped area lost its memory, or null. */
        String lostMapping();
    }

    /** The device is gone, or the memory behind its mapped BAR: the run cannot go on, for this reason. */
    public static final class DeviceGoneException extends JvfioException {
        private static final long serialVersionUID = 1L;

        public DeviceGoneException(String reason) {
            super(reason);
        }
    }

    /** Throws if a device is gone. */
    void checkGone() {
        String why = watch.gone();
        if (why != null) {
            throw new DeviceGoneException(why + "; the run stops");
        }
    }

    /**
     * Whether {@code e} is HotSpot's report of a SIGBUS in an access to mapped memory: it turns one
     * into this InternalError, thrown at the faulting thread's next safepoint check (a direct
     * buffer's access on the host; on a vCPU thread, the fault KVM_RUN takes on a slot's vanished page).
     */
    static boolean isMappedMemoryFault(Throwable e) {
        return e instanceof InternalError && e.getMessage() != null && e.getMessage().contains("unsafe memory access");
    }

    /**
     * What a fault (SIGBUS) in directly mapped memory means: the device whose mapped area lost its
     * memory, if one did; else which areas were mapped.
     */
    DeviceGoneException mappedMemoryFault(String how) {
        String lost = watch.lostMapping();
        if (lost != null) {
            return new DeviceGoneException(lost + "; " + how + "; the run stops");
        }
        StringBuilder areas = new StringBuilder();
        for (io.jvfio.vmm.bus.DirectRegion r : space.directRegions()) {
            areas.append(areas.length() == 0 ? "" : ", ").append(r.name());
        }
        return new DeviceGoneException(how + ": the memory behind a directly mapped BAR area (" + areas + ") is gone; "
                + "the run stops");
    }

    /** Where the drivers place memory BARs: the bottom of the 32-bit PCI hole. */
    public static final long MMIO_WINDOW = 0xc000_0000L;
    /** Where the drivers place I/O BARs: the host bridge's I/O window. */
    public static final long IO_WINDOW = PciHostBridge.IO_WINDOW_BASE;
    /** Timed accesses per loop, and interrupts in the storm. */
    public static final int LOOPS = 1000;
    public static final int INTERRUPTS = 1000;
    /** How long a driver waits for the device (a computation, a DMA, an interrupt) before calling it lost. */
    public static final long WAIT_NANOS = 10_000_000_000L;
    /** How long a driver watches, after the last INTx, for one delivered twice. */
    public static final long SETTLE_NANOS = 100_000_000L;

    static final String NO_BARS = "the device has no BARs: there is nothing to read";
    static final String NO_TRAPPED = "no BAR of the device traps: each is mapped straight into the guest "
            + "(x-no-mmap=on would trap them)";
    static final String NO_DIRECT = "no BAR area of the device is mapped into the guest: none is mmap-able, or "
            + "x-no-mmap=on";
    static final String NO_MEMORY_BAR = "the device has no memory BAR to map into the guest (I/O BARs always trap)";
    static final String UNDER_A_PAGE = "the device's memory BARs are smaller than a page, and a KVM memory slot is "
            + "whole pages: they trap";

    /**
     * Where the timed loops read, as the bridge and the address space say now: an address that traps
     * (each access an exit, forwarded to the device), a memory BAR's if there is one, else an I/O
     * BAR's port ({@code trappedIsPort}); and one in a directly mapped BAR area. 0 for none, and
     * then why in words.
     */
    public record LoopTargets(long trapped, boolean trappedIsPort, long direct, String noTrapped, String noDirect) {
    }

    public LoopTargets loopTargets(int devfn) {
        PciDevFn at = new PciDevFn(devfn >>> 3, devfn & 7);
        PciFunction f = bridge.function(at);
        List<PciBar> bars = f == null ? List.of() : f.bars().stream().filter(b -> !b.isRom()).toList();
        return loopTargets(bars.stream().map(b -> new DecodedBar(b.size(), b.isIo(), bridge.mappedAddress(at,
                b.index()))).toList());
    }

    /**
     * The same for a function the host bridge does not hold itself (behind a root port): its BARs as the
     * driver placed them, decode on.
     */
    LoopTargets loopTargets(BarLayout layout) {
        List<DecodedBar> bars = new java.util.ArrayList<>();
        for (int i = 0; i < 6; i++) {
            if (layout.size()[i] != 0) {
                bars.add(new DecodedBar(layout.size()[i], layout.isIo(i), layout.mappedAddress(i)));
            }
        }
        return loopTargets(bars);
    }

    /** A BAR of the function driven: its size, its kind, and where it decodes (-1: nowhere). */
    private record DecodedBar(long size, boolean isIo, long address) {
    }

    private LoopTargets loopTargets(List<DecodedBar> bars) {
        long trapped = 0;
        long port = 0;
        long direct = 0;
        boolean memory = false;
        boolean allUnderAPage = true;
        for (DecodedBar bar : bars) {
            long address = bar.address();
            if (!bar.isIo()) {
                memory = true;
                allUnderAPage &= bar.size() < Syscalls.pageSize();
            }
            if (address == -1) {
                continue;
            }
            if (bar.isIo()) {
                port = port == 0 ? address : port;
            } else if (space.findDirect(address, 4) != null) {
                direct = direct == 0 ? address : direct;
            } else {
                trapped = trapped == 0 ? address : trapped;
            }
        }
        String noDirect = bars.isEmpty() ? NO_BARS : !memory ? NO_MEMORY_BAR : allUnderAPage ? UNDER_A_PAGE
                : NO_DIRECT;
        return trapped != 0 || port == 0
                ? new LoopTargets(trapped, false, direct, bars.isEmpty() ? NO_BARS : NO_TRAPPED, noDirect)
                : new LoopTargets(port, true, direct, null, noDirect);
    }
}
