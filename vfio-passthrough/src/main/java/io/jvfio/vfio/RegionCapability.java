package io.jvfio.vfio;

import java.util.List;

/**
 * A capability in the chain after a region's info: how the kernel qualifies the region beyond its
 * flags (vfio.h, VFIO_REGION_INFO_CAP_*).
 */
public sealed interface RegionCapability {

    /** VFIO_REGION_INFO_CAP_SPARSE_MMAP: only these parts of the region may be mmap'd. */
    record SparseMmap(List<Area> areas) implements RegionCapability {
        public SparseMmap {
            areas = List.copyOf(areas);
        }

        @Override
        public String toString() {
            StringBuilder sb = new StringBuilder("sparse-mmap");
            for (Area a : areas) {
                sb.append(' ').append(a);
            }
            return sb.toString();
        }
    }

    /** One mmap-able area of a region: offset and size within it. */
    record Area(long offset, long size) {
        @Override
        public String toString() {
            return "[0x" + Long.toHexString(offset) + "+0x" + Long.toHexString(size) + "]";
        }
    }

    /** VFIO_REGION_INFO_CAP_TYPE: what a device-specific region holds. */
    record Type(int type, int subtype) implements RegionCapability {
        @Override
        public String toString() {
            return String.format("type 0x%x/0x%x", type, subtype);
        }
    }

    /**
     * VFIO_REGION_INFO_CAP_MSIX_MAPPABLE: the MSI-X table in this BAR may be mmap'd too (the platform
     * remaps interrupts, so a write to it cannot reach another device's vector).
     */
    record MsixMappable() implements RegionCapability {
        @Override
        public String toString() {
            return "msix-mappable";
        }
    }

    /** A capability this code does not interpret. */
    record Unknown(int id, int version) implements RegionCapability {
        @Override
        public String toString() {
            return "capability " + id + " v" + version;
        }
    }
}
