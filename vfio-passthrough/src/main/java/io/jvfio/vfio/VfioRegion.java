package io.jvfio.vfio;

import java.util.List;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_ROM_REGION_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_VGA_REGION_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_FLAG_MMAP;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_FLAG_READ;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_FLAG_WRITE;

/**
 * A region of a VFIO device as the kernel described it at open: a BAR, the ROM, config space, or a
 * device-specific region. {@code offset} is where it starts in the device fd.
 */
public record VfioRegion(int index, int flags, long size, long offset, List<RegionCapability> capabilities) {

    public VfioRegion {
        capabilities = List.copyOf(capabilities);
    }

    public boolean readable() {
        return (flags & VFIO_REGION_INFO_FLAG_READ) != 0;
    }

    public boolean writable() {
        return (flags & VFIO_REGION_INFO_FLAG_WRITE) != 0;
    }

    public boolean mmappable() {
        return (flags & VFIO_REGION_INFO_FLAG_MMAP) != 0;
    }

    /** False for an unimplemented region (an absent BAR), which the kernel reports with size 0. */
    public boolean present() {
        return size > 0;
    }

    /** The parts that may be mmap'd: the sparse areas if the kernel lists them, else all of it, or nothing. */
    public List<RegionCapability.Area> mmapAreas() {
        if (!mmappable()) {
            return List.of();
        }
        for (RegionCapability c : capabilities) {
            if (c instanceof RegionCapability.SparseMmap s) {
                return s.areas();
            }
        }
        return List.of(new RegionCapability.Area(0, size));
    }

    public boolean msixMappable() {
        return capabilities.stream().anyMatch(c -> c instanceof RegionCapability.MsixMappable);
    }

    /** BAR0..BAR5, ROM, CONFIG, VGA, or "region N" for a device-specific one. */
    public String name() {
        if (index < VFIO_PCI_ROM_REGION_INDEX) {
            return "BAR" + index;
        }
        return switch (index) {
            case VFIO_PCI_ROM_REGION_INDEX -> "ROM";
            case VFIO_PCI_CONFIG_REGION_INDEX -> "CONFIG";
            case VFIO_PCI_VGA_REGION_INDEX -> "VGA";
            default -> "region " + index;
        };
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(String.format("%-7s size 0x%-9x offset 0x%-12x %s%s%s", name(), size, offset,
                readable() ? "r" : "-", writable() ? "w" : "-", mmappable() ? "m" : "-"));
        for (RegionCapability c : capabilities) {
            sb.append(' ').append(c);
        }
        return sb.toString();
    }
}
