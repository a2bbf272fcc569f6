package io.jvfio.vfio.passthrough;

import io.jvfio.vfio.VfioBackend;
import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.VfioRegion;
import io.jvfio.vmm.pci.PciBar;
import io.jvfio.vmm.pci.PciConfigSpace;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_INTX_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_ROM_REGION_INDEX;
import static io.jvfio.vmm.pci.PciRegs.*;

/**
 * The guest's view of a passed-through function's configuration space, built once when the device
 * model is created: its {@link ConfigOverlay} with the identity the options override, the BARs
 * (emulated whole, sized from the device's regions), the interrupt pin and line, and the capability
 * lists relinked around what the guest must not see. The MSI and MSI-X capabilities are shown only
 * when {@link InterruptModes} takes them. Nothing here runs after construction but {@link #reset}.
 */
final class VirtualConfig {

    /**
     * The conventional capabilities the model presents; the others are hidden. Vendor-specific ones
     * are kept, as QEMU's vfio-pci keeps them (vfio_add_std_cap): virtio-pci style drivers find their
     * structures through them.
     */
    static final Set<Integer> SHOWN_CAPABILITIES = Set.of(PCI_CAP_ID_PM, PCI_CAP_ID_MSI, PCI_CAP_ID_EXP, PCI_CAP_ID_MSIX,
            PCI_CAP_ID_VNDR);
    /** The extended capabilities a guest must not see: it cannot use them on an assigned function. */
    static final Set<Integer> HIDDEN_EXTENDED = Set.of(PCI_EXT_CAP_ID_SRIOV, PCI_EXT_CAP_ID_ARI, PCI_EXT_CAP_ID_REBAR);

    private final VfioBackend backend;
    private final PassthroughOptions options;
    private final int configSize;
    /** The standard header (type 0): what a config region must hold at least. */
    private static final int PCI_HEADER_BYTES = 64;

    private final ConfigOverlay.Device device;
    private final ConfigOverlay overlay;
    private final List<PciBar> bars = new ArrayList<>();
    private final List<Capability> shownCapabilities = new ArrayList<>();
    private final List<Capability> hiddenCapabilities = new ArrayList<>();
    private final boolean hasIntx;

    /**
     * The header of {@code backend}'s device as the guest sees it: identity, BARs, interrupt pin and
     * line. The capabilities follow in {@link #buildCapabilities}, once the interrupt modes exist.
     */
    VirtualConfig(String name, VfioBackend backend, PassthroughOptions options) {
        this.backend = backend;
        this.options = options;
        long regionSize = backend.region(VFIO_PCI_CONFIG_REGION_INDEX).size();
        if (regionSize < PCI_HEADER_BYTES) {
            throw new VfioException(name + ": its config region has " + regionSize + " bytes, less than the "
                    + PCI_HEADER_BYTES + " of a PCI function's header");
        }
        this.configSize = regionSize >= PCI_CFG_SPACE_EXP_SIZE ? PCI_CFG_SPACE_EXP_SIZE : PCI_CFG_SPACE_SIZE;
        // A region shorter than the function's config space (the kernel's mtty sample offers 0xff bytes, one
        // short of 256) is read as far as it goes, the rest as zeros, as QEMU reads MIN(256, size) of it;
        // writes past its end are dropped.
        this.device = new ConfigOverlay.Device() {
            @Override
            public int read(int offset, int size) {
                if (offset + size <= regionSize) {
                    return (int) backend.read(VFIO_PCI_CONFIG_REGION_INDEX, offset, size);
                }
                int value = 0;
                for (int i = 0; i < size && offset + i < regionSize; i++) {
                    value |= (int) backend.read(VFIO_PCI_CONFIG_REGION_INDEX, offset + i, 1) << (8 * i);
                }
                return value;
            }

            @Override
            public void write(int offset, int size, int value) {
                if (offset + size <= regionSize) {
                    backend.write(VFIO_PCI_CONFIG_REGION_INDEX, offset, size, Integer.toUnsignedLong(value));
                    return;
                }
                for (int i = 0; i < size && offset + i < regionSize; i++) {
                    backend.write(VFIO_PCI_CONFIG_REGION_INDEX, offset + i, 1, (value >>> (8 * i)) & 0xFF);
                }
            }
        };
        this.overlay = new ConfigOverlay(device, configSize);

        emulateIdentity();
        emulateBars();
        overlay.emulate(PCI_INTERRUPT_LINE, 1, 0xFF, 0, 0xFF);
        this.hasIntx = irqCount(backend, VFIO_PCI_INTX_IRQ_INDEX) > 0 && device.read(PCI_INTERRUPT_PIN, 1) != 0;
        if (!hasIntx) {
            overlay.emulate(PCI_INTERRUPT_PIN, 1, 0xFF, 0, 0);
        }
    }

    /**
     * The capability lists: each conventional capability shown or hidden ({@code interrupts} decides
     * for MSI and MSI-X), the lists relinked, vendor capabilities made read-only, the MSI and MSI-X
     * registers emulated, the extended list pruned; then the reset state sealed and the device
     * quiesced.
     */
    void buildCapabilities(InterruptModes interrupts) {
        for (Capability c : Capability.standard(device)) {
            boolean shown = SHOWN_CAPABILITIES.contains(c.id()) && interrupts.adopt(c);
            (shown ? shownCapabilities : hiddenCapabilities).add(c);
        }
        relinkCapabilities();
        protectVendorCapabilities();
        interrupts.emulate();
        hideExtendedCapabilities(Capability.extended(device, configSize));
        overlay.sealResetState();
        quiesce();
    }

    /** A function reset: the emulated registers back to their power-on values, the device quiesced again. */
    void reset() {
        overlay.reset();
        quiesce();
    }

    /**
     * Stops the device's decoding and DMA until the guest's driver turns them on (QEMU's pre-reset
     * does the same): the host left I/O, memory and bus mastering on, and the guest's BARs are not
     * placed yet.
     */
    private void quiesce() {
        int command = overlay.read(PCI_COMMAND, 2);
        int off = command & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
        if (off != command) {
            overlay.write(PCI_COMMAND, 2, off);
        }
    }

    static int irqCount(VfioBackend backend, int index) {
        return index < backend.irqs().size() ? backend.irq(index).count() : 0;
    }

    private void emulateIdentity() {
        overlay.emulate(PCI_HEADER_TYPE, 1, 0x80, 0, 0); // multi-function is the bridge's to say
        if (options.vendorId() != null) {
            overlay.emulate(PCI_VENDOR_ID, 2, 0xFFFF, options.vendorId(), 0);
        }
        if (options.deviceId() != null) {
            overlay.emulate(PCI_DEVICE_ID, 2, 0xFFFF, options.deviceId(), 0);
        }
        if (options.subVendorId() != null) {
            overlay.emulate(PCI_SUBSYSTEM_VENDOR_ID, 2, 0xFFFF, options.subVendorId(), 0);
        }
        if (options.subDeviceId() != null) {
            overlay.emulate(PCI_SUBSYSTEM_ID, 2, 0xFFFF, options.subDeviceId(), 0);
        }
        if (options.classCode() != null) {
            overlay.emulate(PCI_CLASS_PROG, 3, 0xFF_FFFF, options.classCode(), 0);
        }
    }

    /** BARs from the device's regions (their sizes) and its BAR registers (their kinds), emulated whole. */
    private void emulateBars() {
        for (int i = 0; i < 6; i++) {
            int offset = PCI_BASE_ADDRESS_0 + 4 * i;
            VfioRegion r = i < backend.regions().size() ? backend.region(i) : null;
            if (r == null || !r.present()) {
                overlay.emulate(offset, 4, 0xFFFF_FFFFL, 0, 0);
                continue;
            }
            int physical = device.read(offset, 4);
            if ((physical & PCI_BASE_ADDRESS_SPACE_IO) != 0) {
                long size = barSize(r, 4);
                overlay.emulate(offset, 4, 0xFFFF_FFFFL, PCI_BASE_ADDRESS_SPACE_IO, ~(size - 1) & 0xFFFF_FFFCL);
                bars.add(new PciBar(i, PciConfigSpace.BarType.IO, size, false));
                continue;
            }
            long size = barSize(r, 16);
            boolean is64 = (physical & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64 && i < 5;
            boolean prefetch = (physical & PCI_BASE_ADDRESS_MEM_PREFETCH) != 0;
            int flags = (is64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 : 0) | (prefetch ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
            overlay.emulate(offset, 4, 0xFFFF_FFFFL, flags, ~(size - 1) & 0xFFFF_FFF0L);
            bars.add(new PciBar(i, is64 ? PciConfigSpace.BarType.MEMORY64 : PciConfigSpace.BarType.MEMORY32, size,
                    prefetch));
            if (is64) {
                overlay.emulate(offset + 4, 4, 0xFFFF_FFFFL, 0, ~(size - 1) >>> 32 & 0xFFFF_FFFFL);
                i++;
            }
        }
        VfioRegion rom = VFIO_PCI_ROM_REGION_INDEX < backend.regions().size()
                ? backend.region(VFIO_PCI_ROM_REGION_INDEX) : null;
        if (options.romBar() && rom != null && rom.present() && rom.readable()) {
            long size = barSize(rom, 2048);
            overlay.emulate(PCI_ROM_ADDRESS, 4, 0xFFFF_FFFFL, 0, ~(size - 1) & PCI_ROM_ADDRESS_MASK
                    | PCI_ROM_ADDRESS_ENABLE);
            bars.add(new PciBar(PciBar.ROM, PciConfigSpace.BarType.MEMORY32, size, false));
        } else {
            overlay.emulate(PCI_ROM_ADDRESS, 4, 0xFFFF_FFFFL, 0, 0); // no ROM, or rombar=0: the ROM BAR reads 0
        }
    }

    /** A BAR's size is a power of two, at least the minimum for its kind. */
    private static long barSize(VfioRegion r, long minimum) {
        long size = Math.max(r.size(), minimum);
        return Long.bitCount(size) == 1 ? size : Long.highestOneBit(size) << 1;
    }

    /** The BAR of {@code index}, or null if the device has none there. */
    PciBar bar(int index) {
        for (PciBar b : bars) {
            if (b.index() == index) {
                return b;
            }
        }
        return null;
    }

    /** The config offset of the shown conventional capability {@code id}. */
    int capabilityOffset(int id) {
        return shownCapabilities.stream().filter(c -> !c.extended() && c.id() == id).findFirst().orElseThrow()
                .offset();
    }

    /** The list the guest walks: from 0x34 through the shown capabilities only. */
    private void relinkCapabilities() {
        overlay.emulate(PCI_CAPABILITY_LIST, 1, 0xFF, shownCapabilities.isEmpty() ? 0
                : shownCapabilities.get(0).offset(), 0);
        overlay.emulate(PCI_STATUS, 2, PCI_STATUS_CAP_LIST, shownCapabilities.isEmpty() ? 0 : PCI_STATUS_CAP_LIST, 0);
        for (int i = 0; i < shownCapabilities.size(); i++) {
            int next = i + 1 < shownCapabilities.size() ? shownCapabilities.get(i + 1).offset() : 0;
            overlay.emulate(shownCapabilities.get(i).offset() + PCI_CAP_LIST_NEXT, 1, 0xFF, next, 0);
        }
        for (Capability c : hiddenCapabilities) {
            overlay.emulate(c.offset(), 2, 0xFFFF, 0, 0); // its ID and link read 0
        }
    }

    /**
     * A vendor-specific capability reads as the device's own bytes (its length is at byte 2: PCI Local
     * Bus spec 3.0, appendix H), and the guest's writes to it go nowhere. QEMU with kernel VFIO passes
     * such writes on and the kernel writes them raw (vfio_pci_config.c: PCI_CAP_ID_VNDR's writefn is
     * vfio_raw_config_write); here they are read-only, so a guest cannot reach vendor registers the
     * host did not mean to give it.
     */
    private void protectVendorCapabilities() {
        for (Capability c : shownCapabilities) {
            if (c.id() == PCI_CAP_ID_VNDR) {
                int length = Math.max(3, device.read(c.offset() + PCI_CAP_FLAGS, 1) & 0xFF);
                overlay.readOnly(c.offset(), Math.min(length, PCI_CFG_SPACE_SIZE - c.offset()));
            }
        }
    }

    /**
     * Hides SR-IOV, ARI and resizable BAR by relinking the extended list around them. The list must
     * start at 0x100: if its first capability is hidden, 0x100 holds a null capability that links on.
     */
    private void hideExtendedCapabilities(List<Capability> extended) {
        List<Capability> shown = new ArrayList<>();
        for (Capability c : extended) {
            if (HIDDEN_EXTENDED.contains(c.id())) {
                hiddenCapabilities.add(c);
                overlay.emulate(c.offset(), 4, 0xFFFF_FFFFL, 0, 0);
            } else {
                shown.add(c);
            }
        }
        shownCapabilities.addAll(shown);
        if (shown.size() == extended.size()) {
            return; // nothing hidden: the device's own links stand
        }
        for (int i = 0; i < shown.size(); i++) {
            int next = i + 1 < shown.size() ? shown.get(i + 1).offset() : 0;
            overlay.emulate(shown.get(i).offset(), 4, 0xFFF0_0000L, (long) next << 20, 0);
        }
        if (shown.isEmpty() || shown.get(0).offset() != PCI_CFG_SPACE_SIZE) {
            int first = shown.isEmpty() ? 0 : shown.get(0).offset();
            overlay.emulate(PCI_CFG_SPACE_SIZE, 4, 0xFFFF_FFFFL, first == 0 ? 0 : extCapHeader(0, 0, first), 0);
        }
    }

    ConfigOverlay overlay() {
        return overlay;
    }

    /** How the device's own config space is reached (its VFIO config region). */
    ConfigOverlay.Device device() {
        return device;
    }

    int configSize() {
        return configSize;
    }

    List<PciBar> bars() {
        return bars;
    }

    List<Capability> hiddenCapabilities() {
        return hiddenCapabilities;
    }

    /** Whether the function has an INTx pin that VFIO serves. */
    boolean hasIntx() {
        return hasIntx;
    }
}
