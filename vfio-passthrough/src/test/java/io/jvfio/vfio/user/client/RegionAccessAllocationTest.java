package io.jvfio.vfio.user.client;

import io.jvfio.vfio.devices.EduRegisters;
import io.jvfio.vfio.user.ServedEdu;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A trapped register access over vfio-user allocates nothing: bytes allocated by the calling
 * (vCPU) thread and by both event loops over many REGION_READ and REGION_WRITE round trips, from
 * the JVM's per-thread allocation counters. (A count of bytes, not a measure of time.)
 */
class RegionAccessAllocationTest {

    private static final int WARM_UP = 20_000;
    private static final int MEASURED = 50_000;

    @TempDir
    Path dir;

    @Test
    void registerAccessesAllocateNothingOnEitherSide() throws Exception {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (ServedEdu served = new ServedEdu(dir);
             VfioUserClient client = VfioUserClient.connect(served.socket, 5000, null)) {
            run(client, WARM_UP);
            long[] ids = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.getName().startsWith("vfio-user-") || t == Thread.currentThread())
                    .mapToLong(Thread::getId).toArray();
            assertEquals(4, ids.length, "the caller, the client's and the server's event loops, the server session's reader");
            long before = Arrays.stream(threads.getThreadAllocatedBytes(ids)).sum();
            run(client, MEASURED);
            long allocated = Arrays.stream(threads.getThreadAllocatedBytes(ids)).sum() - before;
            System.out.printf("vfio-user: %d bytes allocated by caller, event loops and reader over %d register writes and "
                    + "reads%n", allocated, 2 * MEASURED);
            // Slack for a lazily loaded class; anything per access would be megabytes.
            assertTrue(allocated < 16384, allocated + " bytes over " + 2 * MEASURED + " accesses");
        }
    }

    private static void run(VfioUserClient client, int n) {
        for (int i = 0; i < n; i++) {
            client.write(0, EduRegisters.LIVENESS, 4, i);
            if (client.read(0, EduRegisters.LIVENESS, 4) != (~i & 0xFFFFFFFFL)) {
                throw new AssertionError("liveness " + i);
            }
        }
    }
}
