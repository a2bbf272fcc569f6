package io.jvfio.vfio.kernel;

import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.migration.DirtyBitmap;
import io.jvfio.vmm.migration.DirtyLog;
import io.jvfio.vmm.migration.DirtyPages;
import io.jvfio.vmm.migration.MigrationException;

import java.util.List;

/**
 * A kernel VFIO device's DMA writes as a {@link DirtyLog} where its driver logs none: its Type1
 * container's dirty page tracking (VFIO_IOMMU_DIRTY_PAGES, {@link VfioContainer#dirtyPagesStart}) over
 * the container's writable mappings at start. Coarse: Type1 sees no device's writes, so every page a
 * device behind an IOMMU can reach reads as dirty (what QEMU's container-based tracking also gets); only
 * a container of emulated groups (mediated devices) narrows it to the pages pinned. The tracking is the
 * container's, shared by its devices: one log a container at a time.
 */
final class ContainerDirtyLog implements DirtyLog {

    private final String name;
    private final VfioContainer container;
    private List<VfioDmaLogging.Range> ranges = List.of();
    private boolean started;

    ContainerDirtyLog(String name, VfioContainer container) {
        this.name = name;
        this.container = container;
    }

    @Override
    public synchronized void start() {
        if (started) {
            return;
        }
        try {
            container.dirtyPagesStart();
        } catch (VfioException e) {
            throw new MigrationException(name + ": " + e.getMessage(), e);
        }
        ranges = container.writableMappings();
        started = true;
    }

    @Override
    public synchronized void collect(DirtyPages into) {
        if (!started) {
            return;
        }
        long pageSize = container.dirtyPageSize();
        for (VfioDmaLogging.Range r : ranges) {
            DirtyBitmap.report(container.dirtyBitmap(r.iova(), r.length()), r.iova(), r.length(), pageSize, into);
        }
    }

    @Override
    public synchronized void stop() {
        if (!started) {
            return;
        }
        started = false;
        ranges = List.of();
        container.dirtyPagesStop();
    }

    @Override
    public String toString() {
        return name + "'s DMA through " + container + "'s dirty page tracking";
    }
}
