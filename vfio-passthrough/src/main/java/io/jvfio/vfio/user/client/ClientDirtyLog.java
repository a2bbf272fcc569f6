package io.jvfio.vfio.user.client;

import io.jvfio.memory.DmaMapping;
import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.migration.DirtyBitmap;
import io.jvfio.vmm.migration.DirtyLog;
import io.jvfio.vmm.migration.DirtyPages;
import io.jvfio.vmm.migration.MigrationException;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * A vfio-user device's DMA writes into guest RAM as a {@link DirtyLog} ({@link VfioUserClient#dmaDirtyLog()}):
 * {@link ClientDmaLogging} started over the DMA windows the client has given the server (guest RAM,
 * IOVA = guest-physical address), each window reported with DMA_LOGGING_REPORT on collect. The windows
 * are those at start: guest RAM that appears later is not logged (a machine's RAM is laid out once, at
 * its start; a hot-added device comes with its own log, and device_add is refused while migrating).
 */
final class ClientDirtyLog implements DirtyLog {

    private final String name;
    private final ClientDmaLogging logging;
    private final Supplier<List<DmaMapping>> windows;
    /** The windows logged (IOVA, length), and the page size the server chose; empty while stopped. */
    private List<long[]> ranges = List.of();
    private long pageSize;
    private boolean started;

    ClientDirtyLog(String name, ClientDmaLogging logging, Supplier<List<DmaMapping>> windows) {
        this.name = name;
        this.logging = logging;
        this.windows = windows;
    }

    @Override
    public synchronized void start() {
        if (started) {
            return;
        }
        List<long[]> logged = new ArrayList<>();
        for (DmaMapping m : windows.get()) {
            if (m.writable()) { // the device cannot write a read-only window
                logged.add(new long[] {m.iova(), m.size()});
            }
        }
        if (logged.isEmpty()) {
            // No window: the device reaches no guest RAM, and DMA_LOGGING_START without ranges would log
            // every address instead of none.
            started = true;
            ranges = List.of();
            return;
        }
        long[] pairs = new long[logged.size() * 2];
        for (int i = 0; i < logged.size(); i++) {
            pairs[2 * i] = logged.get(i)[0];
            pairs[2 * i + 1] = logged.get(i)[1];
        }
        try {
            pageSize = logging.start(Syscalls.pageSize(), pairs);
        } catch (VfioException e) {
            throw new MigrationException(name + ": its server would not log the device's DMA writes "
                    + "(VFIO_DEVICE_FEATURE_DMA_LOGGING_START): " + e.getMessage(), e);
        }
        if (Long.bitCount(pageSize) != 1) {
            logging.stop();
            throw new MigrationException(name + ": its server chose a DMA logging page size of " + pageSize
                    + ", not a power of two");
        }
        ranges = logged;
        started = true;
    }

    @Override
    public synchronized void collect(DirtyPages into) {
        for (long[] r : ranges) {
            DirtyBitmap.report(logging.report(r[0], r[1], pageSize), r[0], r[1], pageSize, into);
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
        return name + "'s DMA logging";
    }
}
