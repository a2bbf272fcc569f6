package io.jvfio.vfio;

import io.jvfio.vmm.linux.vfio.VfioInfoCapHeader;
import io.jvfio.vmm.linux.vfio.VfioRegionInfoCapSparseMmap;
import io.jvfio.vmm.linux.vfio.VfioRegionInfoCapType;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_CAP_SPARSE_MMAP;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_CAP_TYPE;

/**
 * A capability in the chain after a region's info: how the kernel qualifies the region beyond its
 * flags (vfio.h, VFIO_REGION_INFO_CAP_*).
 */
public sealed interface RegionCapability {

    /**
     * The capabilities of a region info, starting at {@code capOffset} within {@code info} (a
     * little-endian buffer holding struct vfio_region_info and what follows). Stops at the end of the
     * chain, at a link outside the buffer, or after 64 links, so a bad chain cannot loop.
     */
    static List<RegionCapability> parseChain(ByteBuffer info, int capOffset) {
        List<RegionCapability> caps = new ArrayList<>();
        int limit = info.capacity();
        int at = capOffset;
        for (int guard = 0; at != 0 && at >= 0 && at + VfioInfoCapHeader.SIZEOF <= limit && guard < 64; guard++) {
            int id = VfioInfoCapHeader.id(info, at);
            switch (id) {
                case VFIO_REGION_INFO_CAP_SPARSE_MMAP -> {
                    if (at + VfioRegionInfoCapSparseMmap.SIZEOF > limit) {
                        return caps;
                    }
                    int n = VfioRegionInfoCapSparseMmap.nrAreas(info, at);
                    if (n < 0 || (long) at + VfioRegionInfoCapSparseMmap.AREAS
                            + (long) n * VfioRegionInfoCapSparseMmap.AREA_SIZEOF > limit) {
                        return caps;
                    }
                    List<Area> areas = new ArrayList<>();
                    for (int i = 0; i < n; i++) {
                        areas.add(new Area(VfioRegionInfoCapSparseMmap.areaOffset(info, at, i),
                                VfioRegionInfoCapSparseMmap.areaSize(info, at, i)));
                    }
                    caps.add(new SparseMmap(areas));
                }
                case VFIO_REGION_INFO_CAP_TYPE -> {
                    if (at + VfioRegionInfoCapType.SIZEOF > limit) {
                        return caps;
                    }
                    caps.add(new Type(VfioRegionInfoCapType.type(info, at), VfioRegionInfoCapType.subtype(info, at)));
                }
                case VFIO_REGION_INFO_CAP_MSIX_MAPPABLE -> caps.add(new MsixMappable());
                default -> caps.add(new Unknown(id, VfioInfoCapHeader.version(info, at)));
            }
            at = VfioInfoCapHeader.next(info, at);
        }
        return caps;
    }

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
