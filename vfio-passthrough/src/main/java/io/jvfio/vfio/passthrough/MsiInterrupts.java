package io.jvfio.vfio.passthrough;

import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.MsiMessage;
import io.jvfio.irq.RouteKind;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vmm.pci.PciConfigCycles;
import io.jvfio.vmm.range.UnsignedRange;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSI_IRQ_INDEX;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_ADDRESS_HI;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_ADDRESS_LO;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_DATA_32;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_DATA_64;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_FLAGS;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_FLAGS_64BIT;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_FLAGS_ENABLE;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_FLAGS_MASKBIT;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_FLAGS_QMASK;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_FLAGS_QSIZE;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_MASK_32;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_MASK_64;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_PENDING_32;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_PENDING_64;

/**
 * MSI of a passed-through function (PCI Local Bus spec 6.8.1). The capability is emulated whole
 * in the overlay, so the address, data and mask bits the guest writes never reach the device. When
 * the guest enables it, each enabled vector gets an eventfd (given to the device with
 * VFIO_DEVICE_SET_IRQS) and a route in irq-routing carrying the guest's message; multiple-message
 * vectors put their number in the data's low bits, as the device would. Per-vector mask bits hold
 * interrupts as pending in the route, shown in the emulated pending register.
 */
final class MsiInterrupts {

    private final String name;
    private final int cap;
    private final int flags;
    private final boolean is64;
    private final boolean maskable;
    private final ConfigOverlay overlay;
    private final VfioBackend backend;
    private final InterruptRouter router;
    private final boolean bypassAllowed;
    private InterruptVectors vectors;

    MsiInterrupts(String name, int cap, int physicalFlags, ConfigOverlay overlay, VfioBackend backend,
                  InterruptRouter router, boolean bypassAllowed) {
        this.bypassAllowed = bypassAllowed;
        this.name = name;
        this.cap = cap;
        this.flags = physicalFlags;
        this.is64 = (physicalFlags & PCI_MSI_FLAGS_64BIT) != 0;
        this.maskable = (physicalFlags & PCI_MSI_FLAGS_MASKBIT) != 0;
        this.overlay = overlay;
        this.backend = backend;
        this.router = router;
    }

    /** The capability's length in bytes: 10, 14, 20 or 24. */
    int length() {
        return 10 + (is64 ? 4 : 0) + (maskable ? 10 : 0);
    }

    int capableVectors() {
        return 1 << ((flags & PCI_MSI_FLAGS_QMASK) >>> 1);
    }

    private int dataOffset() {
        return cap + (is64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32);
    }

    private int maskOffset() {
        return cap + (is64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32);
    }

    private int pendingOffset() {
        return cap + (is64 ? PCI_MSI_PENDING_64 : PCI_MSI_PENDING_32);
    }

    /** Emulates the capability's registers: enable and vectors writable, capabilities from the device. */
    void emulate() {
        int roFlags = flags & (PCI_MSI_FLAGS_QMASK | PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT);
        overlay.emulate(cap + PCI_MSI_FLAGS, 2, 0xFFFF, roFlags, PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE);
        overlay.emulate(cap + PCI_MSI_ADDRESS_LO, 4, 0xFFFF_FFFFL, 0, 0xFFFF_FFFCL);
        if (is64) {
            overlay.emulate(cap + PCI_MSI_ADDRESS_HI, 4, 0xFFFF_FFFFL, 0, 0xFFFF_FFFFL);
        }
        overlay.emulate(dataOffset(), 2, 0xFFFF, 0, 0xFFFF);
        if (maskable) {
            overlay.emulate(maskOffset() - 2, 2, 0xFFFF, 0, 0); // reserved
            long vectorBits = capableVectors() == 32 ? 0xFFFF_FFFFL : (1L << capableVectors()) - 1;
            overlay.emulate(maskOffset(), 4, 0xFFFF_FFFFL, 0, vectorBits);
            overlay.emulate(pendingOffset(), 4, 0xFFFF_FFFFL, 0, 0);
        }
    }

    boolean covers(int offset, int size) {
        return UnsignedRange.overlaps(offset, size, cap, length());
    }

    boolean enabled() {
        return vectors != null;
    }

    /** Whether the guest's registers now ask for MSI on. */
    boolean requested() {
        return (overlay.emulated(cap + PCI_MSI_FLAGS, 2) & PCI_MSI_FLAGS_ENABLE) != 0;
    }

    /**
     * The guest wrote into the capability: enable, disable, resize, or reprogram the routes.
     * {@code beforeEnable} runs before the device's MSI is switched on (the model turns INTx off).
     */
    void written(Runnable beforeEnable) {
        int f = (int) overlay.emulated(cap + PCI_MSI_FLAGS, 2);
        if ((f & PCI_MSI_FLAGS_ENABLE) == 0) {
            disable();
            return;
        }
        int count = Math.min(1 << ((f & PCI_MSI_FLAGS_QSIZE) >>> 4), capableVectors());
        if (vectors != null && vectors.count() != count) {
            disable(); // a new vector count: the device's MSI is set up again, as QEMU does
        }
        if (vectors == null) {
            beforeEnable.run();
            vectors = InterruptVectors.enable(name, RouteKind.MSI, count, i -> message(i, count), this::masked, router,
                    bypassAllowed, backend, VFIO_PCI_MSI_IRQ_INDEX);
        } else {
            reprogram();
        }
    }

    private MsiMessage message(int vector, int vectors) {
        long address = overlay.emulated(cap + PCI_MSI_ADDRESS_LO, 4)
                | (is64 ? overlay.emulated(cap + PCI_MSI_ADDRESS_HI, 4) << 32 : 0);
        int data = (int) overlay.emulated(dataOffset(), 2);
        return new MsiMessage(address, (data & ~(vectors - 1)) | vector);
    }

    private boolean masked(int vector) {
        return maskable && (overlay.emulated(maskOffset(), 4) >>> vector & 1) != 0;
    }

    private void reprogram() {
        for (int i = 0; i < vectors.count(); i++) {
            InterruptRoute r = vectors.route(i);
            MsiMessage m = message(i, vectors.count());
            if (!m.equals(r.message())) {
                r.program(m);
            }
            if (masked(i)) {
                r.mask();
            } else if (r.masked()) {
                r.unmask();
            }
        }
    }

    /** The pending register: a masked vector's interrupt waiting in its route. */
    int pendingBits() {
        // Read once: a config read runs without the device's monitor (PassthroughDevice.readConfig) and
        // may overlap MSI going off; such a read is made again, but must not fail meanwhile.
        InterruptVectors v = vectors;
        int bits = 0;
        for (int i = 0; v != null && i < v.count(); i++) {
            InterruptRoute r = v.route(i);
            bits |= r != null && r.pending() ? 1 << i : 0;
        }
        return bits;
    }

    /** Patches a guest read that covers the pending register with the routes' pending bits. */
    int patchRead(int offset, int size, int value) {
        if (!maskable || !UnsignedRange.overlaps(offset, size, pendingOffset(), 4)) {
            return value;
        }
        long pending = Integer.toUnsignedLong(pendingBits());
        long v = Integer.toUnsignedLong(value);
        for (int i = 0; i < size; i++) {
            int at = offset + i;
            if (at >= pendingOffset() && at < pendingOffset() + 4) {
                long b = (pending >>> (8 * (at - pendingOffset()))) & 0xFF;
                v = (v & ~(0xFFL << (8 * i))) | b << (8 * i);
            }
        }
        return (int) v;
    }

    /** The device's MSI off, routes gone, eventfds closed. */
    void disable() {
        if (vectors == null) {
            return;
        }
        try {
            backend.disableIrq(VFIO_PCI_MSI_IRQ_INDEX);
        } finally {
            vectors.release();
            vectors = null;
        }
    }

    InterruptRoute[] routes() {
        return vectors == null ? new InterruptRoute[0] : vectors.routes();
    }

    // ---- migration ----

    /**
     * The guest's MSI registers as a migration carries them: the control word, address, data and mask
     * bits (0 where the capability lacks them), and the vectors whose interrupt a mask holds pending.
     */
    record State(int flags, int addressLo, int addressHi, int data, int mask, int pending) {
    }

    State state() {
        return new State((int) overlay.emulated(cap + PCI_MSI_FLAGS, 2), (int) overlay.emulated(cap + PCI_MSI_ADDRESS_LO, 4),
                is64 ? (int) overlay.emulated(cap + PCI_MSI_ADDRESS_HI, 4) : 0, (int) overlay.emulated(dataOffset(), 2),
                maskable ? (int) overlay.emulated(maskOffset(), 4) : 0, pendingBits());
    }

    /** Programs {@code s}'s address, data and mask as the guest's config writes would, MSI not yet enabled. */
    void writeRegisters(State s, PciConfigCycles guest) {
        guest.write(cap + PCI_MSI_ADDRESS_LO, 4, s.addressLo());
        if (is64) {
            guest.write(cap + PCI_MSI_ADDRESS_HI, 4, s.addressHi());
        }
        guest.write(dataOffset(), 2, s.data());
        if (maskable) {
            guest.write(maskOffset(), 4, s.mask());
        }
    }

    /** Writes {@code s}'s control word as the guest would: MSI on (with its vector count) if it was. */
    void writeControl(State s, PciConfigCycles guest) {
        guest.write(cap + PCI_MSI_FLAGS, 2, s.flags());
    }

    /**
     * The interrupts a mask held pending on the source: each is signalled on its vector's eventfd, as
     * the device signalled it there, so the (masked) route holds it again and the unmask delivers it.
     */
    void carryPending(int pending) {
        InterruptVectors v = vectors;
        for (int i = 0; v != null && i < v.count(); i++) {
            InterruptRoute r = v.route(i);
            if ((pending >>> i & 1) != 0 && r != null) {
                r.trigger().signal();
            }
        }
    }
}
