package io.jvfio.vfio.passthrough;

import io.jvfio.JvfioException;
import io.jvfio.vfio.RegionCapability;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vfio.VfioRegion;
import io.jvfio.vmm.bus.AccessSize;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.bus.Bus;
import io.jvfio.vmm.bus.BusDevice;
import io.jvfio.vmm.bus.DirectRegion;
import io.jvfio.vmm.linux.MemoryMapping;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.pci.PciBar;
import io.jvfio.vmm.range.UnsignedRange;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_ROM_REGION_INDEX;

/**
 * The BARs of a passed-through function in the guest's address space, one {@link BarWindow} each:
 * placed and removed as the guest enables and moves them, their mmap-able areas mapped directly
 * (no exit) and the rest, the MSI-X table and PBA pages included, trapped and forwarded as region
 * reads and writes.
 *
 * <p>Locking: placing and removing a window ({@link #map}, {@link #unmap}, {@link #directRegions},
 * {@link #close}) holds {@code lock}, the owning {@link PassthroughDevice}'s monitor, the same one
 * its config accesses hold, so a BAR never moves under a config write; the lock order stays device,
 * then address space. The trapped accesses ({@link BarWindow#read}, {@link BarWindow#write}) take
 * no lock here: they reach {@link MsixInterrupts} (its own monitor) or the back end.
 */
final class BarWindows {

    /** The device's logger: its log lines are the device's, whichever part of the model writes them. */
    private static final Logger LOG = LoggerFactory.getLogger(PassthroughDevice.class);

    private final String name;
    private final VfioBackend backend;
    private final PassthroughOptions options;
    private final AddressSpace space;
    private final MsixInterrupts msix;
    private final Object lock;
    private final BarWindow[] windows = new BarWindow[PciBar.ROM + 1];

    /** Windows for {@code bars}; {@code msix} (null without MSI-X) has its table and PBA trapped. */
    BarWindows(String name, VfioBackend backend, PassthroughOptions options, AddressSpace space, List<PciBar> bars,
               MsixInterrupts msix, Object lock) {
        this.name = name;
        this.backend = backend;
        this.options = options;
        this.space = space;
        this.msix = msix;
        this.lock = lock;
        for (PciBar bar : bars) {
            windows[bar.index()] = new BarWindow(bar);
        }
    }

    void map(PciBar bar, long address) {
        windows[bar.index()].map(address);
    }

    void unmap(PciBar bar) {
        windows[bar.index()].unmap();
    }

    /** The directly mapped areas of the BARs now in the address space. */
    List<DirectRegion> directRegions() {
        synchronized (lock) {
            List<DirectRegion> all = new ArrayList<>();
            for (BarWindow w : windows) {
                if (w != null) {
                    all.addAll(w.direct);
                }
            }
            return all;
        }
    }

    /** Every window out of the address space and its mappings closed. */
    void close() {
        synchronized (lock) {
            for (BarWindow w : windows) {
                if (w != null) {
                    w.unmap();
                    w.closeMappings();
                }
            }
        }
    }

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
            synchronized (lock) {
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
            synchronized (lock) {
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
            if (bar.isIo()) {
                backend.write(regionIndex, offset, size, value); // non-posted in PCI
            } else {
                backend.postedWrite(regionIndex, offset, size, value);
            }
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
    static boolean underAPage(PciBar bar) {
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
}
