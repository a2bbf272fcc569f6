package io.jvfio.vfio.passthrough;

import io.jvfio.JvfioException;
import io.jvfio.vfio.RegionCapability;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vfio.VfioIoEventFd;
import io.jvfio.vfio.VfioRegion;
import io.jvfio.vmm.bus.AccessSize;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.bus.Bus;
import io.jvfio.vmm.bus.BusDevice;
import io.jvfio.vmm.bus.DirectRegion;
import io.jvfio.vmm.bus.IoEventFd;
import io.jvfio.vmm.linux.EventFd;
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
 * <p>Doorbells: where the back end offers ioeventfds for a BAR (a vfio-user server's
 * DEVICE_GET_REGION_IO_FDS), each is placed in the address space at the BAR's address
 * ({@link AddressSpace#addIoEventFd}: KVM takes it as a KVM_IOEVENTFD), moved with the BAR and
 * removed when it stops decoding; where no listener takes it (no KVM), the trapped write that
 * matches it signals its eventfd here instead of a region write, as QEMU's memory core does without
 * KVM. {@code x-no-kvm-ioeventfd=on} places none. And as QEMU's vfio-pci does for the NVIDIA BAR0
 * mirror (pci-quirks.c, vfio_nvidia_quirk_mirror_write), a trapped register written
 * {@value #HITS_FOR_IOEVENTFD} times in a row with the same width and value gets a dynamic ioeventfd:
 * an eventfd handed to the back end ({@link VfioBackend#setIoEventFd}: the kernel's
 * VFIO_DEVICE_IOEVENTFD, so vfio-pci does the write) and to KVM with that value to match, so later
 * such writes never leave the kernel; at most {@value #MAX_DYN_IOEVENTFD} per BAR, dropped when the
 * BAR moves. QEMU does it for that one quirk; jvfio for every trapped BAR register. Where the back
 * end cannot (vfio-user) or no KVM takes it, or with {@code x-no-vfio-ioeventfd=on}, the writes stay
 * trapped (QEMU instead keeps the KVM ioeventfd and does the write from a user-space handler).
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

    /** QEMU's HITS_FOR_IOEVENTFD: this many identical writes in a row earn a dynamic ioeventfd. */
    static final int HITS_FOR_IOEVENTFD = 10;
    /** QEMU's MAX_DYN_IOEVENTFD: at most this many per BAR, so a busy driver cannot use up the fds. */
    static final int MAX_DYN_IOEVENTFD = 10;
    private static final IoEventFd[] NO_DOORBELLS = new IoEventFd[0];

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

    /** The doorbells placed for the BARs now in the address space: offered and dynamic ones. */
    List<IoEventFd> doorbells() {
        synchronized (lock) {
            List<IoEventFd> all = new ArrayList<>();
            for (BarWindow w : windows) {
                if (w != null) {
                    all.addAll(w.doorbells);
                    for (Dynamic d : w.dynamic) {
                        all.add(d.doorbell);
                    }
                }
            }
            return all;
        }
    }

    /** A dynamic ioeventfd: the doorbell in the address space, and the BAR offset the back end writes. */
    private record Dynamic(IoEventFd doorbell, long offset) {
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
        /** Where the BAR sits while it decodes (trap != null). */
        volatile long mappedAt;
        /** The back end's doorbells, placed at the BAR's address; under lock. */
        final List<IoEventFd> doorbells = new ArrayList<>();
        /** Those no listener took (no KVM): a matching trapped write signals them here. */
        volatile IoEventFd[] untaken = NO_DOORBELLS;
        /** The dynamic ioeventfds; under lock. */
        final List<Dynamic> dynamic = new ArrayList<>();
        /** The last trapped write and how often it came in a row; racy between vCPUs, which only delays a doorbell. */
        long lastOffset = -1;
        int lastSize;
        long lastValue;
        int hits;
        /** Dynamic ioeventfds added since the BAR was placed; past MAX_DYN_IOEVENTFD, counting stops. */
        int added;

        BarWindow(PciBar bar) {
            this.bar = bar;
            this.regionIndex = bar.isRom() ? VFIO_PCI_ROM_REGION_INDEX : bar.index();
            this.region = backend.region(regionIndex);
        }

        void map(long address) {
            synchronized (lock) {
                Bus bus = bar.isIo() ? space.pio() : space.mmio();
                trap = bus.add(name + " " + bar.name(), address, bar.size(), this);
                mappedAt = address;
                try {
                    if (!bar.isIo() && !bar.isRom() && !options.noMmap() && region.mmappable()) {
                        mapAreas(address);
                    }
                    if (!options.noKvmIoeventfd() && !bar.isRom()) {
                        placeDoorbells(address);
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

        /** The back end's doorbells for this BAR at {@code address}. */
        private void placeDoorbells(long address) {
            List<IoEventFd> soft = new ArrayList<>();
            for (VfioIoEventFd d : backend.ioEventFds(regionIndex)) {
                if (msix != null && (msix.inTable(bar.index(), d.offset(), Math.max(d.size(), 1))
                        || msix.inPba(bar.index(), d.offset(), Math.max(d.size(), 1)))) {
                    LOG.warn("{}: {} doorbell at +0x{} lies in the MSI-X table or PBA, which the VMM emulates: not "
                            + "placed", name, bar.name(), Long.toHexString(d.offset()));
                    continue;
                }
                // The BAR's own type decides the address space, whatever the server's PIO flag says.
                IoEventFd e = new IoEventFd(name + " " + bar.name() + " doorbell +0x" + Long.toHexString(d.offset()),
                        bar.isIo(), address + d.offset(), d.size(), d.datamatch(), d.data(), d.eventfd());
                if (!space.addIoEventFd(e)) {
                    soft.add(e);
                }
                doorbells.add(e);
            }
            untaken = soft.toArray(NO_DOORBELLS);
        }

        /** A dynamic ioeventfd for writes of {@code value} at {@code offset}, if the back end and KVM take it. */
        private void addDynamic(long offset, int size, long value) {
            synchronized (lock) {
                if (trap == null || added > MAX_DYN_IOEVENTFD) {
                    return; // moved or stopped decoding meanwhile, or given up
                }
                if (added == MAX_DYN_IOEVENTFD) {
                    added++;
                    LOG.warn("{}: {} has {} dynamic ioeventfds, the most there may be: +0x{} ({} bytes of 0x{}) stays "
                            + "trapped", name, bar.name(), MAX_DYN_IOEVENTFD, Long.toHexString(offset), size,
                            Long.toHexString(value));
                    return;
                }
                String what = name + " " + bar.name() + " +0x" + Long.toHexString(offset) + "=0x" + Long.toHexString(value);
                EventFd eventfd = new EventFd(what);
                boolean vfio = false;
                try {
                    vfio = backend.setIoEventFd(regionIndex, offset, size, value, eventfd);
                } catch (JvfioException e) {
                    LOG.debug("{}: no dynamic ioeventfd: {}", name, e.getMessage());
                }
                if (!vfio) {
                    eventfd.close();
                    added = MAX_DYN_IOEVENTFD + 1; // the back end cannot: stop counting
                    return;
                }
                IoEventFd d = new IoEventFd(what, bar.isIo(), mappedAt + offset, size, true, value, eventfd);
                if (!space.addIoEventFd(d)) {
                    // No KVM: the trapped write would only signal what the kernel then writes.
                    space.removeIoEventFd(d);
                    backend.setIoEventFd(regionIndex, offset, size, value, null);
                    eventfd.close();
                    added = MAX_DYN_IOEVENTFD + 1;
                    return;
                }
                dynamic.add(new Dynamic(d, offset));
                added++;
                LOG.debug("{}: dynamic ioeventfd for {} bytes of 0x{} at {} +0x{}", name, size, Long.toHexString(value),
                        bar.name(), Long.toHexString(offset));
            }
        }

        /** The dynamic ioeventfds out of KVM and the back end, their eventfds closed. */
        private void dropDynamic() {
            for (Dynamic d : dynamic) {
                space.removeIoEventFd(d.doorbell);
                try {
                    backend.setIoEventFd(regionIndex, d.offset, d.doorbell.size(), d.doorbell.data(), null);
                } catch (JvfioException e) {
                    LOG.warn("{}: removing the dynamic ioeventfd {} failed: {}", name, d.doorbell.name(), e.getMessage());
                }
                d.doorbell.eventfd().close();
            }
            dynamic.clear();
            added = 0;
            hits = 0;
            lastOffset = -1;
        }

        void unmap() {
            synchronized (lock) {
                for (IoEventFd e : doorbells) {
                    space.removeIoEventFd(e);
                }
                doorbells.clear();
                untaken = NO_DOORBELLS;
                dropDynamic();
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
            IoEventFd[] soft = untaken;
            for (IoEventFd d : soft) {
                if (d.matches(mappedAt + offset, size, value)) {
                    d.eventfd().signal(); // a doorbell no KVM took: rung here, as KVM would
                    return;
                }
            }
            if (!options.noKvmIoeventfd() && !options.noVfioIoeventfd() && added <= MAX_DYN_IOEVENTFD) {
                countWrite(offset, size, value);
            }
            if (bar.isIo()) {
                backend.write(regionIndex, offset, size, value); // non-posted in PCI
            } else {
                backend.postedWrite(regionIndex, offset, size, value);
            }
        }

        /** QEMU's LastDataSet: the same write {@value #HITS_FOR_IOEVENTFD} times in a row earns a doorbell. */
        private void countWrite(long offset, int size, long value) {
            if (offset != lastOffset || size != lastSize || value != lastValue) {
                lastOffset = offset;
                lastSize = size;
                lastValue = value;
                hits = 1;
            } else if (++hits >= HITS_FOR_IOEVENTFD) {
                hits = 0;
                addDynamic(offset, size, value);
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
