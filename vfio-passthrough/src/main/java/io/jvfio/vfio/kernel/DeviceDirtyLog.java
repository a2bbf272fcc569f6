package io.jvfio.vfio.kernel;

import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.migration.DirtyBitmap;
import io.jvfio.vmm.migration.DirtyLog;
import io.jvfio.vmm.migration.DirtyPages;
import io.jvfio.vmm.migration.MigrationException;

import java.util.List;
import java.util.function.Supplier;

/**
 * A kernel VFIO device's DMA writes as a {@link DirtyLog}, logged by its own driver ({@link VfioDmaLogging}:
 * VFIO_DEVICE_FEATURE_DMA_LOGGING_*) over the writable DMA mappings of its container at start (IOVA =
 * guest-physical address), each reported on collect. Exact: only what the device wrote.
 */
final class DeviceDirtyLog implements DirtyLog {

    private final String name;
    private final VfioDmaLogging logging;
    private final Supplier<List<VfioDmaLogging.Range>> mappings;
    private List<VfioDmaLogging.Range> ranges = List.of();
    private long pageSize;
    private boolean started;

    DeviceDirtyLog(String name, VfioDmaLogging logging, Supplier<List<VfioDmaLogging.Range>> mappings) {
        this.name = name;
        this.logging = logging;
        this.mappings = mappings;
    }

    @Override
    public synchronized void start() {
        if (started) {
            return;
        }
        List<VfioDmaLogging.Range> logged = mappings.get();
        if (!logged.isEmpty()) {
            // Nothing mapped: the device reaches no guest RAM (and the kernel refuses a start without ranges).
            try {
                pageSize = logging.start(Syscalls.pageSize(), logged);
            } catch (VfioException e) {
                throw new MigrationException(name + ": " + e.getMessage(), e);
            }
        }
        ranges = logged;
        started = true;
    }

    @Override
    public synchronized void collect(DirtyPages into) {
        for (VfioDmaLogging.Range r : ranges) {
            DirtyBitmap.report(logging.report(r.iova(), r.length(), pageSize), r.iova(), r.length(), pageSize, into);
        }
    }

    @Override
    public synchronized void stop() {
        if (!started) {
            return;
        }
        started = false;
        if (!ranges.isEmpty()) {
            ranges = List.of();
            logging.stop();
        }
    }

    @Override
    public String toString() {
        return logging.toString();
    }
}
