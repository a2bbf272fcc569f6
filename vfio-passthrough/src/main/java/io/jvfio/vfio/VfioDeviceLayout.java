package io.jvfio.vfio;

import io.jvfio.vmm.range.UnsignedRange;

import java.util.List;

/**
 * What a VFIO device is made of, as its back end read it once at open: the regions and interrupt
 * indexes, with the lookups and checks every back end applies before it touches the device, so a
 * kernel device and a vfio-user device refuse a bad access with the same words.
 */
public final class VfioDeviceLayout {

    private final String device;
    private final List<VfioRegion> regions;
    private final List<VfioIrq> irqs;

    public VfioDeviceLayout(String device, List<VfioRegion> regions, List<VfioIrq> irqs) {
        this.device = device;
        this.regions = List.copyOf(regions);
        this.irqs = List.copyOf(irqs);
    }

    public List<VfioRegion> regions() {
        return regions;
    }

    public VfioRegion region(int index) {
        if (index < 0 || index >= regions.size()) {
            throw new VfioException(device + " has no region " + index + " (it has " + regions.size() + ")");
        }
        return regions.get(index);
    }

    public List<VfioIrq> irqs() {
        return irqs;
    }

    public VfioIrq irq(int index) {
        if (index < 0 || index >= irqs.size()) {
            throw new VfioException(device + " has no interrupt index " + index + " (it has " + irqs.size() + ")");
        }
        return irqs.get(index);
    }

    /** The region, if it allows the access and {@code [offset, offset + length)} lies inside it. */
    public VfioRegion accessible(int index, long offset, long length, boolean write) {
        VfioRegion r = region(index);
        if (write ? !r.writable() : !r.readable()) {
            throw new VfioException(r.name() + " of " + device + " is not " + (write ? "writable" : "readable"));
        }
        if (!UnsignedRange.fits(offset, length, r.size())) {
            throw new VfioException("an access of " + length + " bytes at 0x" + Long.toHexString(offset) + " is outside "
                    + r.name() + " of " + device + " (0x" + Long.toHexString(r.size()) + " bytes)");
        }
        return r;
    }

    /** The region, if {@code area} is one of its mmap-able areas. */
    public VfioRegion mmapable(int index, RegionCapability.Area area) {
        VfioRegion r = region(index);
        if (!r.mmapAreas().contains(area)) {
            throw new VfioException(area + " is not an mmap-able area of " + r.name() + " of " + device
                    + " (its areas: " + r.mmapAreas() + ")");
        }
        return r;
    }

    /** The interrupt index, if it has room for {@code vectors} eventfds. */
    public VfioIrq enableable(int index, int vectors) {
        return enableable(index, 0, vectors);
    }

    /** The interrupt index, if it has vectors {@code start} .. {@code start + vectors - 1} (at least one). */
    public VfioIrq enableable(int index, int start, int vectors) {
        VfioIrq irq = irq(index);
        if (vectors == 0 || start < 0 || (long) start + vectors > irq.count()) {
            throw new VfioException(irq.name() + " of " + device + " has " + irq.count() + " vectors; cannot enable "
                    + (start == 0 ? String.valueOf(vectors) : vectors + " from vector " + start));
        }
        return irq;
    }
}
