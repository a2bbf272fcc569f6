package io.jvfio.vfio.user;

import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.MsiMessage;
import io.jvfio.irq.RouteKind;
import io.jvfio.irq.VirtualInterruptController;
import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vfio.RegionCapability;
import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.VfioIrq;
import io.jvfio.vfio.VfioRegion;
import io.jvfio.vfio.devices.EduDevice;
import io.jvfio.vfio.emulated.EmulatedDevice;
import io.jvfio.vfio.emulated.ForwardingDevice;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vfio.user.protocol.VfioUserVersion;
import io.jvfio.vfio.user.server.VfioUserServer;
import io.jvfio.vfio.user.transport.VfioUserConnection;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.MemoryMapping;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.UnixSocket;
import io.netty.buffer.ByteBuf;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static io.jvfio.vfio.devices.EduRegisters.*;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_INTX_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSIX_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSI_IRQ_INDEX;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MASTER;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MEMORY;
import static io.jvfio.vmm.pci.PciRegs.PCI_CAPABILITY_LIST;
import static io.jvfio.vmm.pci.PciRegs.PCI_CAP_ID_MSIX;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_FLAGS;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_FLAGS_ENABLE;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_FLAGS_MASKALL;
import static io.jvfio.vmm.pci.PciRegs.PCI_VENDOR_ID;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Java vfio-user client against the Java server hosting the edu device, over a real UNIX socket,
 * with guest RAM on a real memfd, real eventfds into irq-routing, and real mmaps of the BAR2 memfd;
 * and the client's round trips on the calling threads and its posted writes, several threads at once.
 */
class VfioUserEduTest {

    private static final long RAM_SIZE = 16 << 20;
    private static final int BAR0 = 0;
    private static final int BAR1 = 1;
    private static final int BAR2 = 2;

    @TempDir
    Path dir;
    private ServedEdu served;
    private Path socket;
    private EduDevice edu;
    private VfioUserServer server;
    private GuestMemory memory;
    private VfioUserClient client;

    @BeforeEach
    void start() throws Exception {
        served = new ServedEdu(dir);
        socket = served.socket;
        edu = served.edu;
        server = served.server;
        memory = new GuestMemory();
        memory.addRegion("ram", 0, MemoryBackend.memfd("ram", RAM_SIZE, false));
        client = VfioUserClient.connect(socket, 5000, memory);
    }

    @AfterEach
    void stop() throws Exception {
        if (client != null) {
            client.close();
        }
        memory.close();
        served.close();
    }

    @Test
    void negotiatesAndDescribesTheDeviceAsTheKernelWould() {
        assertEquals(VfioUserVersion.MAX_MSG_FDS, client.serverCapabilities().maxMsgFds());
        assertEquals(1 << 20, client.serverCapabilities().maxDataXferSize());
        assertTrue(client.supportsReset());
        assertEquals(9, client.regions().size());
        VfioRegion bar0 = client.region(BAR0);
        assertEquals(BAR0_SIZE, bar0.size());
        assertTrue(bar0.readable() && bar0.writable() && !bar0.mmappable(), bar0.toString());
        VfioRegion bar2 = client.region(BAR2);
        assertTrue(bar2.mmappable(), bar2.toString());
        assertEquals(List.of(new RegionCapability.Area(0, BAR2_SIZE)), bar2.mmapAreas());
        assertFalse(client.region(3).present(), "BAR3 is the upper half of 64-bit BAR2");
        assertEquals(256, client.region(VFIO_PCI_CONFIG_REGION_INDEX).size());
        assertEquals(5, client.irqs().size());
        VfioIrq msix = client.irq(VFIO_PCI_MSIX_IRQ_INDEX);
        assertEquals(MSIX_VECTORS, msix.count());
        assertTrue(msix.eventfd() && msix.maskable());
        assertTrue(client.irq(VFIO_PCI_INTX_IRQ_INDEX).automasked());
        // Guest RAM was offered with its memfd; the server mapped it rather than falling back to messages.
        assertEquals(1, server.dmaWindows());
        assertEquals(1, client.dmaWindows());
        // Config space: 1234:11e8 with the capability list bit and MSI then MSI-X.
        assertEquals(0x11e81234L, client.read(VFIO_PCI_CONFIG_REGION_INDEX, PCI_VENDOR_ID, 4));
    }

    @Test
    void theRegistersBehaveAsQemusEdu() throws Exception {
        assertEquals(ID_VALUE, client.read(BAR0, ID, 4));
        client.write(BAR0, LIVENESS, 4, 0x12345678);
        assertEquals(~0x12345678 & 0xFFFFFFFFL, client.read(BAR0, LIVENESS, 4));
        assertEquals(120, factorial(5));
        assertEquals(479001600, factorial(12));
        assertEquals(6227020800L & 0xFFFFFFFFL, factorial(13), "32-bit arithmetic, as the C device has");
        // QEMU's rule: registers below 0x80 take 4-byte accesses only; others read all-ones and writes are ignored.
        assertEquals(0xFFFF, client.read(BAR0, ID, 2));
        client.write(BAR0, LIVENESS, 2, 0x1);
        assertEquals(~0x12345678 & 0xFFFFFFFFL, client.read(BAR0, LIVENESS, 4));
        // The DMA registers take 8-byte accesses; unassigned offsets read all-ones.
        client.write(BAR0, DMA_SRC, 8, 0x1122334455667788L);
        assertEquals(0x1122334455667788L, client.read(BAR0, DMA_SRC, 8));
        assertEquals(0xFFFFFFFFL, client.read(BAR0, 0x30, 4));
    }

    private long factorial(int n) throws InterruptedException {
        client.write(BAR0, FACTORIAL, 4, n);
        Fds.await("factorial of " + n, () -> (client.read(BAR0, STATUS, 4) & STATUS_COMPUTING) == 0);
        return client.read(BAR0, FACTORIAL, 4);
    }

    private void enableBusMaster() {
        client.write(VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    }

    /** RAM -> device buffer -> RAM through the edu DMA engine; returns the copy. */
    private byte[] dmaRoundTrip(long src, long dst, int count) throws InterruptedException {
        client.write(BAR0, DMA_SRC, 8, src);
        client.write(BAR0, DMA_DST, 8, DMA_BUFFER);
        client.write(BAR0, DMA_COUNT, 8, count);
        client.write(BAR0, DMA_CMD, 8, DMA_CMD_RUN);
        Fds.await("DMA RAM -> device", () -> (client.read(BAR0, DMA_CMD, 8) & DMA_CMD_RUN) == 0);
        client.write(BAR0, DMA_SRC, 8, DMA_BUFFER);
        client.write(BAR0, DMA_DST, 8, dst);
        client.write(BAR0, DMA_COUNT, 8, count);
        client.write(BAR0, DMA_CMD, 8, DMA_CMD_RUN | DMA_CMD_TO_RAM | DMA_CMD_IRQ);
        Fds.await("DMA device -> RAM", () -> (client.read(BAR0, DMA_CMD, 8) & DMA_CMD_RUN) == 0);
        byte[] out = new byte[count];
        memory.ram().read(dst, out, 0, count);
        return out;
    }

    @Test
    void dmaRoundTripThroughTheClientsMemfd() throws Exception {
        enableBusMaster();
        byte[] pattern = new byte[DMA_BUFFER_SIZE];
        new Random(7).nextBytes(pattern);
        memory.ram().write(0x10000, pattern, 0, pattern.length);
        assertArrayEquals(pattern, dmaRoundTrip(0x10000, 0x200000, pattern.length));
        // The device's buffer holds it too (BAR0 0x40000, this implementation's window onto it).
        assertEquals(ByteBuffer.wrap(pattern, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong(),
                client.read(BAR0, DMA_BUFFER, 8));
        assertEquals(IRQ_DMA_DONE, client.read(BAR0, IRQ_STATUS, 4), "DMA_CMD_IRQ raised 0x100");
        assertEquals(0, server.dmaMessages(), "the server reached guest RAM through its mapping of the memfd");
    }

    /** Guest RAM on a file: not a sealed memfd, so the server must not map it, and asks with DMA_READ/DMA_WRITE. */
    private void useFileBackedRam() throws Exception {
        client.close();
        memory.close();
        memory = new GuestMemory();
        memory.addRegion("ram", 0, MemoryBackend.file("ram", RAM_SIZE, dir));
        client = VfioUserClient.connect(socket, 5000, memory);
    }

    /**
     * Guest RAM on a file ({@link #useFileBackedRam}), bus mastering on, and 3000 random bytes (from
     * {@code seed}) at guest address 0x3000 for the device to DMA from.
     */
    private byte[] patternInFileBackedRam(long seed) throws Exception {
        useFileBackedRam();
        enableBusMaster();
        byte[] pattern = new byte[3000];
        new Random(seed).nextBytes(pattern);
        memory.ram().write(0x3000, pattern, 0, pattern.length);
        return pattern;
    }

    @Test
    void dmaGoesThroughMessagesWhenTheMemoryCannotBeMappedSafely() throws Exception {
        byte[] pattern = patternInFileBackedRam(8);
        assertArrayEquals(pattern, dmaRoundTrip(0x3000, 0x90000, pattern.length));
        assertEquals(2, server.dmaMessages(), "one DMA_READ and one DMA_WRITE, answered from guest memory");
    }

    /**
     * A DMA_WRITE the client copies straight into guest memory is in the VMM's write log, as GuestRam's own
     * writes are: a migration's pre-copy sends those pages again.
     */
    @Test
    void aDmaWriteIntoGuestMemoryIsInMigrationsWriteLog() throws Exception {
        byte[] pattern = patternInFileBackedRam(9);
        io.jvfio.vmm.migration.DirtyLog log = memory.writeLog();
        log.start();
        try {
            log.collect((a, l) -> { }); // nothing before the DMA
            assertArrayEquals(pattern, dmaRoundTrip(0x3000, 0x90000, pattern.length));
            java.util.TreeSet<Long> pages = new java.util.TreeSet<>();
            log.collect((a, l) -> {
                for (long p = a; p < a + l; p += 4096) {
                    pages.add(p);
                }
            });
            assertEquals(java.util.Set.of(0x90000L), pages, "the pages the device's DMA_WRITE wrote");
        } finally {
            log.stop();
        }
    }

    @Test
    void severalThreadsRoundTripAtOnceWhileTheServerAsksForDma() throws Exception {
        // Each thread reads its own replies off the socket, or parks while another reads them for
        // it; whichever reads serves the server's DMA_READ/DMA_WRITE on the way.
        useFileBackedRam();
        enableBusMaster();
        int threads = 4;
        int rounds = 3000;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> workers = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                long word = 0x1000 + 8L * t; // each thread its own BAR2 word: what it reads is what it wrote
                long seed = t;
                workers.add(pool.submit(() -> {
                    for (int i = 0; i < rounds; i++) {
                        long value = seed << 48 | i;
                        client.postedWrite(BAR2, word, 8, value);
                        assertEquals(value, client.read(BAR2, word, 8), "a read comes after the write before it");
                        assertEquals(ID_VALUE, client.read(BAR0, ID, 4));
                    }
                    return null;
                }));
            }
            Random random = new Random(16);
            int copies = 0;
            while (workers.stream().anyMatch(f -> !f.isDone()) || copies < 4) {
                byte[] pattern = new byte[512];
                random.nextBytes(pattern);
                memory.ram().write(0x3000, pattern, 0, pattern.length);
                assertArrayEquals(pattern, dmaRoundTrip(0x3000, 0x90000, pattern.length), "DMA copy " + copies);
                copies++;
            }
            for (Future<?> f : workers) {
                f.get(60, TimeUnit.SECONDS);
            }
            assertEquals(0, client.failedRequests());
            assertTrue(server.dmaMessages() >= 2L * copies, server.dmaMessages() + " DMA messages for " + copies
                    + " copies there and back");
            assertTrue(client.postedWrites() > 0, "BAR writes were posted (those meeting a full socket waited)");
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aFlushWaitsUntilTheServerHasProcessedEveryPostedWrite() {
        for (int i = 0; i < 1000; i++) {
            client.postedWrite(BAR2, 0x2000 + 8L * (i % 64), 8, i);
        }
        assertTrue(client.flushPostedWrites());
        for (int i = 1000 - 64; i < 1000; i++) {
            // Read on the device's side, not through the client: only the flush orders it.
            assertEquals(i, edu.bar2().getLong(0x2000 + 8 * (i % 64)), "word " + (i % 64));
        }
        assertTrue(client.flushPostedWrites(), "nothing posted since: at once");
        assertEquals(0, client.failedRequests());
    }

    @Test
    void postedWritesToAGoneServerAreDroppedAndCounted() throws Exception {
        server.close();
        Fds.await("the client notices", client::isDead);
        client.postedWrite(BAR0, LIVENESS, 4, 1);
        client.postedWrite(BAR0, LIVENESS, 4, 2);
        assertEquals(2, client.postedWriteErrors(), "each counted (the first one logged)");
        client.write(BAR0, LIVENESS, 4, 3);
        client.postWrites(false);
        client.postedWrite(BAR0, LIVENESS, 4, 4);
        assertEquals(2, client.postedWriteErrors(), "a waited write is not a posted one");
    }

    @Test
    void dmaOutsideTheMappedWindowsFailsWithoutTouchingAnything() throws Exception {
        enableBusMaster();
        long beyond = RAM_SIZE + 0x1000; // inside the 28-bit DMA mask, outside guest RAM
        client.write(BAR0, DMA_SRC, 8, DMA_BUFFER);
        client.write(BAR0, DMA_DST, 8, beyond);
        client.write(BAR0, DMA_COUNT, 8, 64);
        client.write(BAR0, DMA_CMD, 8, DMA_CMD_RUN | DMA_CMD_TO_RAM);
        Fds.await("a refused DMA completes", () -> (client.read(BAR0, DMA_CMD, 8) & DMA_CMD_RUN) == 0);
        assertEquals(ID_VALUE, client.read(BAR0, ID, 4), "the device and the connection carry on");
    }

    @Test
    void msixVectorsArriveThroughIrqRoutingAndMaskingHoldsThemPending() throws Exception {
        VirtualInterruptController apics = new VirtualInterruptController(1);
        try (InterruptRouter router = new InterruptRouter(apics)) {
            EventFd[] triggers = new EventFd[MSIX_VECTORS];
            InterruptRoute[] routes = new InterruptRoute[MSIX_VECTORS];
            for (int v = 0; v < MSIX_VECTORS; v++) {
                triggers[v] = new EventFd("msix " + v);
                routes[v] = router.addMsi("edu msix " + v, RouteKind.MSIX, triggers[v], MsiMessage.fixed(0, 0x40 + v),
                        false);
            }
            try {
                client.enableIrq(VFIO_PCI_MSIX_IRQ_INDEX, triggers);
                assertEquals(MSIX_VECTORS, server.assignedEventfds());
                for (int v = 0; v < MSIX_VECTORS; v++) {
                    client.write(BAR0, MSIX_FIRE, 4, v);
                    int vector = 0x40 + v;
                    Fds.await("MSI-X vector " + v + " at the local APIC", () -> apics.apic(0).isPending(vector));
                }
                // The edu interrupt (factorial done) goes to vector 0 once MSI-X is enabled.
                while (apics.apic(0).acknowledge() >= 0) {
                    apics.apic(0).endOfInterrupt();
                }
                client.write(BAR0, STATUS, 4, STATUS_IRQ_FACTORIAL);
                assertEquals(24, factorial(4));
                Fds.await("factorial interrupt on vector 0", () -> apics.apic(0).isPending(0x40));
                assertEquals(IRQ_FACTORIAL_DONE, client.read(BAR0, IRQ_STATUS, 4));
                client.write(BAR0, IRQ_ACK, 4, IRQ_FACTORIAL_DONE);

                // Masked in the device (SET_IRQS ACTION_MASK): the PBA shows it pending; unmasking delivers it.
                client.maskIrq(VFIO_PCI_MSIX_IRQ_INDEX, 3);
                long before = routes[3].stats().delivered();
                client.write(BAR0, MSIX_FIRE, 4, 3);
                Fds.await("PBA bit 3", () -> (client.read(BAR1, MSIX_PBA_OFFSET, 8) & (1 << 3)) != 0);
                assertEquals(before, routes[3].stats().delivered(), "a masked vector does not fire");
                client.unmaskIrq(VFIO_PCI_MSIX_IRQ_INDEX, 3);
                Fds.await("vector 3 after unmask", () -> routes[3].stats().delivered() == before + 1);
                assertEquals(0, client.read(BAR1, MSIX_PBA_OFFSET, 8));

                // The Function Mask in config space, as QEMU 11's vfio-user-pci writes it through (it keeps
                // the table's per-vector masks to itself): held in the device, shown in its PBA, sent on clear.
                int cap = (int) client.read(VFIO_PCI_CONFIG_REGION_INDEX, PCI_CAPABILITY_LIST, 1);
                while (cap != 0 && client.read(VFIO_PCI_CONFIG_REGION_INDEX, cap, 1) != PCI_CAP_ID_MSIX) {
                    cap = (int) client.read(VFIO_PCI_CONFIG_REGION_INDEX, cap + 1, 1);
                }
                assertTrue(cap != 0, "edu has an MSI-X capability");
                int msixFlags = cap + PCI_MSIX_FLAGS;
                client.write(VFIO_PCI_CONFIG_REGION_INDEX, msixFlags, 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
                long before5 = routes[5].stats().delivered();
                client.write(BAR0, MSIX_FIRE, 4, 5);
                assertEquals(1 << 5, client.read(BAR1, MSIX_PBA_OFFSET, 8), "pending under the Function Mask");
                assertEquals(before5, routes[5].stats().delivered(), "not sent under the Function Mask");
                client.write(VFIO_PCI_CONFIG_REGION_INDEX, msixFlags, 2, PCI_MSIX_FLAGS_ENABLE);
                Fds.await("vector 5 once the Function Mask clears", () -> routes[5].stats().delivered() == before5 + 1);
                assertEquals(0, client.read(BAR1, MSIX_PBA_OFFSET, 8));
                client.write(VFIO_PCI_CONFIG_REGION_INDEX, msixFlags, 2, 0);

                client.disableIrq(VFIO_PCI_MSIX_IRQ_INDEX);
                assertEquals(0, server.assignedEventfds());
            } finally {
                for (int v = 0; v < MSIX_VECTORS; v++) {
                    router.remove(routes[v]);
                    triggers[v].close();
                }
            }
        }
    }

    @Test
    void eventfdsAreSplitToTheServersMaxMsgFds() throws Exception {
        // A server that takes one fd per message (the spec's default) still gets all eight vectors.
        EventFd[] triggers = new EventFd[MSIX_VECTORS];
        for (int v = 0; v < MSIX_VECTORS; v++) {
            triggers[v] = v == 5 ? null : new EventFd("msix " + v);
        }
        try {
            client.enableIrq(VFIO_PCI_MSIX_IRQ_INDEX, triggers);
            assertEquals(MSIX_VECTORS - 1, server.assignedEventfds(), "vector 5 left unassigned");
            client.write(BAR0, MSIX_FIRE, 4, 6);
            Fds.await("vector 6", () -> triggers[6].read() == 1);
        } finally {
            for (EventFd e : triggers) {
                if (e != null) {
                    e.close();
                }
            }
        }
    }

    @Test
    void msiAndLevelTriggeredIntx() throws Exception {
        try (EventFd msi = new EventFd("msi"); EventFd intx = new EventFd("intx")) {
            client.enableIrq(VFIO_PCI_MSI_IRQ_INDEX, new EventFd[] {msi});
            client.write(BAR0, IRQ_RAISE, 4, 0x5);
            Fds.await("MSI", () -> msi.read() == 1);
            assertEquals(0x5, client.read(BAR0, IRQ_STATUS, 4));
            client.write(BAR0, IRQ_ACK, 4, 0x5);
            client.disableIrq(VFIO_PCI_MSI_IRQ_INDEX);

            // INTx: asserted while the interrupt status is non-zero; VFIO masks it on each delivery.
            client.enableIrq(VFIO_PCI_INTX_IRQ_INDEX, new EventFd[] {intx});
            client.write(BAR0, IRQ_RAISE, 4, 0x1);
            Fds.await("INTx", () -> intx.read() == 1);
            client.write(BAR0, IRQ_RAISE, 4, 0x2); // the line is masked: nothing more
            client.unmaskIrq(VFIO_PCI_INTX_IRQ_INDEX, 0); // EOI without acknowledging: still asserted, so again
            Fds.await("INTx again while asserted", () -> intx.read() == 1);
            client.write(BAR0, IRQ_ACK, 4, 0x3); // the line drops
            client.unmaskIrq(VFIO_PCI_INTX_IRQ_INDEX, 0);
            Thread.sleep(50);
            assertEquals(0, intx.read(), "a deasserted line does not fire on unmask");
            client.disableIrq(VFIO_PCI_INTX_IRQ_INDEX);
        }
    }

    @Test
    void bar2IsOneMemfdSeenByTheDeviceTheMappingAndRegionAccess() {
        VfioRegion bar2 = client.region(BAR2);
        try (MemoryMapping m = client.mmap(BAR2, bar2.mmapAreas().get(0))) {
            ByteBuffer mapped = m.byteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            mapped.putLong(0x1000, 0xCAFEF00DL);
            assertEquals(0xCAFEF00DL, edu.bar2().getLong(0x1000), "the device sees the client's store");
            assertEquals(0xCAFEF00DL, client.read(BAR2, 0x1000, 8), "and REGION_READ returns it");
            client.write(BAR2, 0xFFFF8, 8, 0x0102030405060708L);
            assertEquals(0x0102030405060708L, mapped.getLong(0xFFFF8), "REGION_WRITE lands in the shared pages");
        }
    }

    @Test
    void aOneMebibyteRegionWriteAndReadCrossTheSocketInPieces() {
        byte[] data = new byte[BAR2_SIZE];
        new Random(3).nextBytes(data);
        ByteBuffer src = ByteBuffer.allocateDirect(BAR2_SIZE);
        src.put(data).flip();
        ByteBuffer dst = ByteBuffer.allocateDirect(BAR2_SIZE);
        // One message of 1 MiB + 32 bytes each way: the socket takes it in many partial sendmsg/recvmsg.
        assertEquals(BAR2_SIZE, client.write(BAR2, 0, io.jvfio.vmm.linux.jna.DirectBuffers.address(src), BAR2_SIZE));
        byte[] seen = new byte[BAR2_SIZE];
        edu.bar2().get(0, seen);
        assertArrayEquals(data, seen);
        assertEquals(BAR2_SIZE, client.read(BAR2, 0, io.jvfio.vmm.linux.jna.DirectBuffers.address(dst), BAR2_SIZE));
        byte[] back = new byte[BAR2_SIZE];
        dst.get(back);
        assertArrayEquals(data, back);
    }

    @Test
    void resetReturnsTheDeviceToItsPowerOnState() throws Exception {
        client.write(BAR0, LIVENESS, 4, 7);
        client.write(BAR0, IRQ_RAISE, 4, 0x10);
        enableBusMaster();
        client.reset();
        assertEquals(0xFFFFFFFFL, client.read(BAR0, LIVENESS, 4));
        assertEquals(0, client.read(BAR0, IRQ_STATUS, 4));
        assertEquals(0, client.read(VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND, 2));
    }

    @Test
    void theNextClientIsServedAfterADisconnectAndTheFirstOnesResourcesAreReleased() throws Exception {
        client.write(BAR0, LIVENESS, 4, 0xAA);
        EventFd e = new EventFd("msi");
        client.enableIrq(VFIO_PCI_MSI_IRQ_INDEX, new EventFd[] {e});
        assertEquals(1, server.assignedEventfds());
        client.close();
        e.close();
        client = null;
        assertTrue(server.awaitNoClient(5, TimeUnit.SECONDS));
        assertEquals(0, server.dmaWindows());
        assertEquals(0, server.assignedEventfds());
        client = VfioUserClient.connect(socket, 5000, memory);
        assertEquals(~0xAA & 0xFFFFFFFFL, client.read(BAR0, LIVENESS, 4), "the device keeps its state");
        assertEquals(2, server.clientsServed());
    }

    @Test
    void aClientWaitsWhileAnotherIsServed() throws Exception {
        VfioException busy = assertThrows(VfioException.class, () -> VfioUserClient.connect(socket, 300, null));
        assertTrue(busy.getMessage().contains("no reply to VFIO_USER_VERSION within x-msg-timeout=300 ms"),
                busy.getMessage());
        assertEquals(ID_VALUE, client.read(BAR0, ID, 4), "the served client is unaffected");
    }

    @Test
    void whenTheServerDiesTheDeviceReadsAllOnesAndTheCallerCarriesOn() throws Exception {
        assertEquals(ID_VALUE, client.read(BAR0, ID, 4));
        server.close();
        Fds.await("the client notices", client::isDead);
        assertEquals(0xFFFFFFFFL, client.read(BAR0, ID, 4));
        assertEquals(0xFFL, client.read(BAR0, ID, 1));
        client.write(BAR0, LIVENESS, 4, 1); // dropped, no exception
        ByteBuffer b = ByteBuffer.allocateDirect(16);
        client.read(BAR2, 0, io.jvfio.vmm.linux.jna.DirectBuffers.address(b), 16);
        assertEquals(-1L, b.getLong(0));
        client.reset(); // nothing to reset: no exception either
    }

    @Test
    void aRequestThatOutlivesXMsgTimeoutReadsAllOnesAndTheLateReplyIsDropped() throws Exception {
        client.close();
        SlowDevice slow = new SlowDevice(edu);
        served.serve(slow);
        server = served.server;
        client = VfioUserClient.connect(socket, 200, memory);
        slow.delayMillis = 600;
        assertEquals(0xFFFFFFFFL, client.read(BAR0, ID, 4), "no reply within 200 ms");
        assertEquals(1, client.failedRequests());
        slow.delayMillis = 0;
        // The slow read done: its late reply goes out before anything sent next is answered, and
        // matches no waiting request.
        assertTrue(slow.delayedReadsDone.tryAcquire(10, java.util.concurrent.TimeUnit.SECONDS), "the slow read ended");
        assertEquals(ID_VALUE, client.read(BAR0, ID, 4), "the next request gets its own reply");
    }

    @Test
    void aServerThatNeverAnswersFailsTheConnectWithATimeout() throws Exception {
        Path silent = dir.resolve("silent.sock");
        try (OwnedFd listener = UnixSocket.listen(silent, 1)) {
            VfioException e = assertThrows(VfioException.class, () -> VfioUserClient.connect(silent, 250, null));
            assertEquals("vfio-user:" + silent + ": no reply to VFIO_USER_VERSION within x-msg-timeout=250 ms (is the "
                    + "server stuck, or busy with another client? it serves one at a time)", e.getMessage());
        }
        VfioException none = assertThrows(VfioException.class,
                () -> VfioUserClient.connect(dir.resolve("nobody.sock"), 250, null));
        assertTrue(none.getMessage().startsWith("cannot connect to the vfio-user server at "
                + dir.resolve("nobody.sock") + ": No such file or directory (ENOENT) - start the server first"),
                none.getMessage());
    }

    /** The edu device with a delay before each BAR0 read: a server that is slow to answer. */
    static final class SlowDevice extends ForwardingDevice {
        volatile long delayMillis;
        /** A permit per delayed read the device has answered. */
        final java.util.concurrent.Semaphore delayedReadsDone = new java.util.concurrent.Semaphore(0);

        SlowDevice(EmulatedDevice inner) {
            super(inner);
        }

        @Override
        public void read(int region, long offset, ByteBuf dst, int count) {
            long d = delayMillis;
            if (d > 0 && region == BAR0) {
                try {
                    Thread.sleep(d);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            super.read(region, offset, dst, count);
            if (d > 0 && region == BAR0) {
                delayedReadsDone.release();
            }
        }
    }
}
