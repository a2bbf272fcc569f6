package io.jvfio.vfio.passthrough;

import io.jvfio.JvfioException;
import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.vfio.RegionCapability;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.VfioIrq;
import io.jvfio.vfio.VfioRegion;
import io.jvfio.vmm.bus.AccessSize;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.bus.Bus;
import io.jvfio.vmm.bus.BusDevice;
import io.jvfio.vmm.bus.DirectRegion;
import io.jvfio.vmm.linux.MemoryMapping;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.pci.PciBar;
import io.jvfio.vmm.pci.PciConfigSpace;
import io.jvfio.vmm.pci.PciFunction;
import io.jvfio.vmm.range.UnsignedRange;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_INTX_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSIX_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSI_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_ROM_REGION_INDEX;
import static io.jvfio.vmm.pci.PciRegs.*;

/**
 * A device passed through to the guest, over either VFIO back end (the kernel's or vfio-user), as
 * cloud-hypervisor's VfioCommon serves both: the guest sees a per-bit overlay of the device's own
 * configuration space ({@link ConfigOverlay}):
 * <ul>
 * <li>BARs and the ROM BAR are emulated whole: sizing returns the size mask, and nothing the guest
 *     writes to them reaches the device; {@code rombar=0} hides the ROM.</li>
 * <li>The command register's I/O, memory and bus-master bits pass through; INTx-disable is emulated
 *     while MSI or MSI-X is on. The interrupt line is emulated; the pin is the device's.</li>
 * <li>The capability list shows power management, MSI, MSI-X, PCI Express and vendor-specific
 *     capabilities (read-only); others are hidden by relinking the next pointers around them, and so
 *     are the SR-IOV, ARI and resizable-BAR extended capabilities.</li>
 * <li>MSI, MSI-X and INTx each have their state ({@link MsiInterrupts}, {@link MsixInterrupts},
 *     {@link IntxInterrupt}), owning their eventfds and routes.</li>
 * </ul>
 * A BAR the guest enables appears in the address space: its mmap-able areas as directly mapped
 * memory (no exit), the rest, the MSI-X table and PBA pages included, trapped and forwarded as
 * region reads and writes.
 */
public final class PassthroughDevice implements PciFunction, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(PassthroughDevice.class);

    /**
     * The conventional capabilities the model presents; the others are hidden. Vendor-specific ones
     * are kept, as QEMU's vfio-pci keeps them (vfio_add_std_cap): virtio-pci style drivers find their
     * structures through them.
     */
    static final Set<Integer> SHOWN_CAPABILITIES = Set.of(PCI_CAP_ID_PM, PCI_CAP_ID_MSI, PCI_CAP_ID_EXP, PCI_CAP_ID_MSIX,
            PCI_CAP_ID_VNDR);
    /** The extended capabilities a guest must not see: it cannot use them on an assigned function. */
    static final Set<Integer> HIDDEN_EXTENDED = Set.of(PCI_EXT_CAP_ID_SRIOV, PCI_EXT_CAP_ID_ARI, PCI_EXT_CAP_ID_REBAR);

    private final String name;
    private final VfioBackend backend;
    private final PassthroughOptions options;
    private final AddressSpace space;
    private final int configSize;
    private final ConfigOverlay overlay;
    private final List<PciBar> bars = new ArrayList<>();
    private final BarWindow[] windows = new BarWindow[PciBar.ROM + 1];
    private final List<Capability> shownCapabilities = new ArrayList<>();
    private final List<Capability> hiddenCapabilities = new ArrayList<>();
    private final MsiInterrupts msi;
    private final MsixInterrupts msix;
    private final IntxInterrupt intx;
    private boolean closed;

    /**
     * Builds the guest's view of {@code backend}'s device. Its BARs appear in {@code space} when the
     * guest enables them; its interrupts are routed by {@code router}; INTx reaches no interrupt line
     * until the machine wires it ({@link #wireIntx}).
     */
    public PassthroughDevice(String name, VfioBackend backend, PassthroughOptions options, AddressSpace space,
                             InterruptRouter router) {
        this.name = name;
        this.backend = backend;
        this.options = options;
        this.space = space;
        long regionSize = backend.region(VFIO_PCI_CONFIG_REGION_INDEX).size();
        if (regionSize < PCI_CFG_SPACE_SIZE) {
            throw new VfioException(name + ": its config region has " + regionSize + " bytes, less than the 256 of a "
                    + "PCI function");
        }
        this.configSize = regionSize >= PCI_CFG_SPACE_EXP_SIZE ? PCI_CFG_SPACE_EXP_SIZE : PCI_CFG_SPACE_SIZE;
        ConfigOverlay.Device device = new ConfigOverlay.Device() {
            @Override
            public int read(int offset, int size) {
                return (int) backend.read(VFIO_PCI_CONFIG_REGION_INDEX, offset, size);
            }

            @Override
            public void write(int offset, int size, int value) {
                backend.write(VFIO_PCI_CONFIG_REGION_INDEX, offset, size, Integer.toUnsignedLong(value));
            }
        };
        this.overlay = new ConfigOverlay(device, configSize);

        emulateIdentity();
        emulateBars(device);
        overlay.emulate(PCI_INTERRUPT_LINE, 1, 0xFF, 0, 0xFF);
        boolean hasIntx = irqCount(VFIO_PCI_INTX_IRQ_INDEX) > 0 && device.read(PCI_INTERRUPT_PIN, 1) != 0;
        if (!hasIntx) {
            overlay.emulate(PCI_INTERRUPT_PIN, 1, 0xFF, 0, 0);
        }

        List<Capability> caps = Capability.standard(device);
        MsiInterrupts msiState = null;
        MsixInterrupts msixState = null;
        for (Capability c : caps) {
            boolean shown = SHOWN_CAPABILITIES.contains(c.id());
            if (c.id() == PCI_CAP_ID_MSI) {
                shown &= irqCount(VFIO_PCI_MSI_IRQ_INDEX) > 0;
                if (shown) {
                    msiState = new MsiInterrupts(name, c.offset(), device.read(c.offset() + PCI_MSI_FLAGS, 2), overlay,
                            backend, router, !options.noKvmMsi());
                }
            } else if (c.id() == PCI_CAP_ID_MSIX) {
                shown &= irqCount(VFIO_PCI_MSIX_IRQ_INDEX) > 0;
                if (shown) {
                    msixState = msix(c, device, router);
                    shown = msixState != null;
                }
            }
            (shown ? shownCapabilities : hiddenCapabilities).add(c);
        }
        this.msi = msiState;
        this.msix = msixState;
        relinkCapabilities();
        protectVendorCapabilities(device);
        if (msi != null) {
            msi.emulate();
        }
        if (msix != null) {
            msix.emulate(device.read(shownCapability(PCI_CAP_ID_MSIX).offset() + PCI_MSIX_FLAGS, 2));
        }
        hideExtendedCapabilities(Capability.extended(device, configSize));
        overlay.sealResetState();
        quiesce();

        for (PciBar bar : bars) {
            windows[bar.index()] = new BarWindow(bar);
        }
        this.intx = hasIntx ? new IntxInterrupt(name, backend, router) : null;
        if (intx != null) {
            intx.enable(); // INTx is on until the guest turns MSI or MSI-X on, as on real hardware
        }
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

    private int irqCount(int index) {
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
    private void emulateBars(ConfigOverlay.Device device) {
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

    private MsixInterrupts msix(Capability c, ConfigOverlay.Device device, InterruptRouter router) {
        int flags = device.read(c.offset() + PCI_MSIX_FLAGS, 2);
        MsixInterrupts m = new MsixInterrupts(name, c.offset(), flags, device.read(c.offset() + PCI_MSIX_TABLE, 4),
                device.read(c.offset() + PCI_MSIX_PBA, 4), overlay, backend, router, !options.noKvmMsix());
        PciBar tableBar = bar(m.tableBar());
        PciBar pbaBar = bar(m.pbaBar());
        if (tableBar == null || pbaBar == null || m.tableOffset() + m.tableSize() > tableBar.size()
                || m.pbaOffset() + m.pbaSize() > pbaBar.size()) {
            LOG.warn("{}: its MSI-X table (BAR{} +0x{}) or PBA (BAR{} +0x{}) is not inside a BAR; MSI-X is hidden",
                    name, m.tableBar(), Long.toHexString(m.tableOffset()), m.pbaBar(), Long.toHexString(m.pbaOffset()));
            return null;
        }
        return m;
    }

    private PciBar bar(int index) {
        for (PciBar b : bars) {
            if (b.index() == index) {
                return b;
            }
        }
        return null;
    }

    private Capability shownCapability(int id) {
        return shownCapabilities.stream().filter(c -> !c.extended() && c.id() == id).findFirst().orElseThrow();
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
    private void protectVendorCapabilities(ConfigOverlay.Device device) {
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

    // ---- PciFunction ----

    @Override
    public String name() {
        return name;
    }

    @Override
    public int configSize() {
        return configSize;
    }

    @Override
    public synchronized int readConfig(int offset, int size) {
        int v = overlay.read(offset, size);
        return msi != null ? msi.patchRead(offset, size, v) : v;
    }

    @Override
    public synchronized void writeConfig(int offset, int size, int value) {
        overlay.write(offset, size, value);
        if (msi != null && msi.covers(offset, size)) {
            try {
                msi.written(this::interruptsOn);
            } catch (RuntimeException e) {
                refuseEnable("MSI", msi::disable, offset(PCI_CAP_ID_MSI) + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE, e);
            }
            interruptsMaybeOff();
        }
        if (msix != null && msix.coversControl(offset, size)) {
            try {
                msix.controlWritten(this::interruptsOn);
            } catch (RuntimeException e) {
                refuseEnable("MSI-X", msix::disable, offset(PCI_CAP_ID_MSIX) + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE,
                        e);
            }
            interruptsMaybeOff();
        }
    }

    private int offset(int capId) {
        return shownCapability(capId).offset();
    }

    /** The device would not take the interrupts the guest enabled: the enable bit reads back clear. */
    private void refuseEnable(String what, Runnable disable, int flagsOffset, int enableBit, RuntimeException e) {
        LOG.warn("{}: enabling {} failed, it stays off: {}", name, what, e.getMessage());
        disable.run();
        overlay.setEmulated(flagsOffset, 2, overlay.emulated(flagsOffset, 2) & ~enableBit);
    }

    /** MSI or MSI-X is about to go on: INTx goes off, and its disable bit is the model's while they are on. */
    private void interruptsOn() {
        if (intx != null) {
            intx.disable();
        }
        if ((overlay.emulatedMask(PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE) == 0) {
            int current = overlay.read(PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE;
            overlay.emulate(PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE, current, PCI_COMMAND_INTX_DISABLE);
        }
    }

    /** With MSI and MSI-X both off, INTx is back, and its disable bit the device's again. */
    private void interruptsMaybeOff() {
        boolean msiOn = msi != null && msi.enabled();
        boolean msixOn = msix != null && msix.enabled();
        if (msiOn || msixOn) {
            return;
        }
        overlay.passThrough(PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
        if (intx != null && !intx.enabled()) {
            intx.enable();
        }
    }

    @Override
    public List<PciBar> bars() {
        return List.copyOf(bars);
    }

    @Override
    public void mapBar(PciBar bar, long address) {
        windows[bar.index()].map(address);
    }

    @Override
    public void unmapBar(PciBar bar) {
        windows[bar.index()].unmap();
    }

    /**
     * A function reset (the VM's reset): interrupts off, the device reset (its own reset if it has one,
     * else a hot reset of its bus when every group that affects is ours, else an error that names
     * the group in the way), the emulated registers back to power-on, INTx on again.
     */
    @Override
    public synchronized void reset() {
        if (msi != null) {
            msi.disable();
        }
        if (msix != null) {
            msix.disable();
            msix.resetTable();
        }
        if (intx != null) {
            intx.disable();
        }
        overlay.reset();
        overlay.passThrough(PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
        quiesce();
        try {
            backend.reset(); // the back end picks its reset (the kernel's may be a hot reset), or says why not
        } finally {
            if (intx != null) {
                intx.enable();
            }
        }
    }

    /**
     * Wires the function's INTx pin to interrupt line {@code gsi} (an IOAPIC pin), once the machine
     * knows where the function sits, and reports it in the interrupt line register as a BIOS would
     * (the guest may still write the register: it is a scratch byte for its driver). Called before the
     * guest runs: the register's value is also its value after a reset. A function without INTx (no
     * pin, or VFIO offers none) is left as it is.
     */
    public synchronized void wireIntx(int gsi) {
        if (intx == null) {
            return;
        }
        overlay.emulate(PCI_INTERRUPT_LINE, 1, 0xFF, gsi & 0xFF, 0xFF);
        overlay.sealResetState();
        intx.wire(gsi);
    }

    /** The interrupt line (GSI) INTx is wired to, or -1. */
    public synchronized int intxGsi() {
        return intx == null ? -1 : intx.gsi();
    }

    // ---- what tests and the launcher look at ----

    public VfioBackend backend() {
        return backend;
    }

    public PassthroughOptions options() {
        return options;
    }

    /** The routes of the interrupt mode that is on (MSI-X, MSI or INTx). */
    public synchronized List<InterruptRoute> routes() {
        if (msix != null && msix.enabled()) {
            return List.of(msix.routes());
        }
        if (msi != null && msi.enabled()) {
            return List.of(msi.routes());
        }
        return intx != null && intx.enabled() ? List.of(intx.route()) : List.of();
    }

    /** The capabilities the guest does not see, by where they are in the device's config space. */
    public List<String> hiddenCapabilities() {
        return hiddenCapabilities.stream().map(Capability::toString).toList();
    }

    /** The directly mapped areas of the BARs now in the address space. */
    public synchronized List<DirectRegion> directRegions() {
        List<DirectRegion> all = new ArrayList<>();
        for (BarWindow w : windows) {
            if (w != null) {
                all.addAll(w.direct);
            }
        }
        return all;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (BarWindow w : windows) {
            if (w != null) {
                w.unmap();
                w.closeMappings();
            }
        }
        try {
            if (msi != null) {
                msi.disable();
            }
            if (msix != null) {
                msix.disable();
            }
            if (intx != null) {
                intx.disable();
            }
        } catch (RuntimeException e) {
            LOG.warn("{}: turning its interrupts off failed while closing: {}", name, e.getMessage());
        }
    }

    @Override
    public String toString() {
        return name;
    }

    // ---- BARs in the guest ----

    /**
     * One BAR in the guest's address space: a trap over all of it (forwarded as region accesses,
     * the MSI-X table and PBA emulated), and over that, unless {@code x-no-mmap}, its mmap-able
     * areas mapped directly, minus the pages that hold the MSI-X table and PBA.
     */
    private final class BarWindow implements BusDevice {
        final PciBar bar;
        final int regionIndex;
        final VfioRegion region;
        final Map<RegionCapability.Area, MemoryMapping> mappings = new HashMap<>();
        final List<DirectRegion> direct = new ArrayList<>();
        Bus.Registration trap;

        BarWindow(PciBar bar) {
            this.bar = bar;
            this.regionIndex = bar.isRom() ? VFIO_PCI_ROM_REGION_INDEX : bar.index();
            this.region = backend.region(regionIndex);
        }

        void map(long address) {
            synchronized (PassthroughDevice.this) {
                Bus bus = bar.isIo() ? space.pio() : space.mmio();
                trap = bus.add(name + " " + bar.name(), address, bar.size(), this);
                try {
                    if (!bar.isIo() && !bar.isRom() && !options.noMmap() && region.mmappable()) {
                        mapAreas(address);
                    }
                } catch (RuntimeException e) {
                    unmap();
                    throw e;
                }
            }
        }

        private void mapAreas(long address) {
            long page = Syscalls.pageSize();
            List<long[]> holes = new ArrayList<>();
            if (msix != null && msix.tableBar() == bar.index()) {
                holes.add(pages(msix.tableOffset(), msix.tableSize(), page));
            }
            if (msix != null && msix.pbaBar() == bar.index()) {
                holes.add(pages(msix.pbaOffset(), msix.pbaSize(), page));
            }
            for (RegionCapability.Area area : region.mmapAreas()) {
                for (long[] piece : subtract(area.offset(), area.offset() + area.size(), holes)) {
                    long[] whole = wholePages(address, piece, area.offset(), page);
                    if (whole == null) {
                        continue; // stays trapped
                    }
                    MemoryMapping m = mappings.get(area);
                    if (m == null) {
                        try {
                            m = backend.mmap(regionIndex, area);
                        } catch (JvfioException e) {
                            // As QEMU's vfio_bar_register: a BAR area that cannot be mapped is trapped.
                            LOG.warn("{}: {} area {} stays trapped (accessed by messages): {}", name, bar.name(), area,
                                    e.getMessage());
                            break;
                        }
                        mappings.put(area, m);
                    }
                    direct.add(space.mapDirect(name + " " + bar.name() + " +0x" + Long.toHexString(whole[0]),
                            address + whole[0], whole[1] - whole[0], m.address() + (whole[0] - area.offset()),
                            region.writable()));
                }
            }
        }

        void unmap() {
            synchronized (PassthroughDevice.this) {
                for (DirectRegion r : direct) {
                    space.unmapDirect(r);
                }
                direct.clear();
                if (trap != null) {
                    (bar.isIo() ? space.pio() : space.mmio()).remove(trap);
                    trap = null;
                }
            }
        }

        void closeMappings() {
            for (MemoryMapping m : mappings.values()) {
                m.close();
            }
            mappings.clear();
        }

        @Override
        public long read(long offset, int size) {
            if (msix != null && msix.inTable(bar.index(), offset, size)) {
                return msix.readTable(offset, size);
            }
            if (msix != null && msix.inPba(bar.index(), offset, size)) {
                return msix.readPba(offset, size);
            }
            if (!UnsignedRange.fits(offset, size, region.size())) {
                return AccessSize.allOnes(size); // the power-of-two padding past the region
            }
            return backend.read(regionIndex, offset, size);
        }

        @Override
        public void write(long offset, int size, long value) {
            if (msix != null && msix.inTable(bar.index(), offset, size)) {
                msix.writeTable(offset, size, value);
                return;
            }
            if (bar.isRom() || (msix != null && msix.inPba(bar.index(), offset, size))
                    || !UnsignedRange.fits(offset, size, region.size())
                    || !region.writable()) {
                return; // read-only: the ROM, the PBA, padding
            }
            backend.write(regionIndex, offset, size, value);
        }
    }

    /**
     * The part of a BAR's mmap-able piece [start, end) (region offsets) that can be a KVM memory slot
     * with the BAR at guest {@code address}: whole guest pages, whose host pages line up too; null
     * if there is none. KVM refuses a slot that is not page-aligned or a page multiple (EINVAL from
     * KVM_SET_USER_MEMORY_REGION), so the rest of the piece stays trapped, and so does all of a BAR
     * smaller than a page. QEMU instead maps a sub-page BAR as a whole host page when the guest
     * placed it page-aligned and the region is one mmap-able area (vfio_sub_page_bar_update_mapping,
     * the kernel reserving the rest of that host page); the page's remainder would then shadow
     * whatever else the guest put in it, which this address space lets a direct region do, so
     * jvfio traps those BARs: every access an exit, never a slot smaller than a page.
     */
    static long[] wholePages(long address, long[] piece, long areaOffset, long page) {
        long first = Math.floorDiv(address + piece[0] + page - 1, page) * page - address;
        long end = Math.floorDiv(address + piece[1], page) * page - address;
        if (end <= first || Math.floorMod(first - areaOffset, page) != 0) {
            return null;
        }
        return new long[] {first, end};
    }

    /** True for a BAR that is never mapped into the guest because it is smaller than a page. */
    public static boolean underAPage(PciBar bar) {
        return !bar.isIo() && bar.size() < Syscalls.pageSize();
    }

    /** [start, end) widened to whole pages. */
    private static long[] pages(long offset, long size, long page) {
        return new long[] {offset / page * page, (offset + size + page - 1) / page * page};
    }

    /** [start, end) without the holes, as pieces. */
    static List<long[]> subtract(long start, long end, List<long[]> holes) {
        List<long[]> pieces = new ArrayList<>();
        pieces.add(new long[] {start, end});
        for (long[] h : holes) {
            List<long[]> next = new ArrayList<>();
            for (long[] p : pieces) {
                if (h[1] <= p[0] || h[0] >= p[1]) {
                    next.add(p);
                    continue;
                }
                if (h[0] > p[0]) {
                    next.add(new long[] {p[0], h[0]});
                }
                if (h[1] < p[1]) {
                    next.add(new long[] {h[1], p[1]});
                }
            }
            pieces = next;
        }
        return pieces;
    }

    /** The device's own interrupt indexes, for a diagnostic line. */
    List<VfioIrq> irqs() {
        return backend.irqs();
    }
}
