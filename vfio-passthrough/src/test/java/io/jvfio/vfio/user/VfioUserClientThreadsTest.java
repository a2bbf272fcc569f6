package io.jvfio.vfio.user;

import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vfio.user.client.VfioUserClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static io.jvfio.vfio.devices.EduRegisters.DMA_BUFFER;
import static io.jvfio.vfio.devices.EduRegisters.DMA_CMD;
import static io.jvfio.vfio.devices.EduRegisters.DMA_CMD_RUN;
import static io.jvfio.vfio.devices.EduRegisters.DMA_CMD_TO_RAM;
import static io.jvfio.vfio.devices.EduRegisters.DMA_COUNT;
import static io.jvfio.vfio.devices.EduRegisters.DMA_DST;
import static io.jvfio.vfio.devices.EduRegisters.DMA_SRC;
import static io.jvfio.vfio.devices.EduRegisters.ID;
import static io.jvfio.vfio.devices.EduRegisters.ID_VALUE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MASTER;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MEMORY;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The client's round trips on the calling threads (each reads its own reply from the socket, or
 * waits while another thread reads it for it) and its posted writes, against jvfio's own server
 * and edu device over a real socket: several threads at once while the server asks for DMA with
 * DMA_READ/DMA_WRITE (guest RAM on a file, which the server must not map), whoever is reading
 * serving them.
 */
class VfioUserClientThreadsTest {

    private static final long RAM_SIZE = 16 << 20;
    private static final int BAR0 = 0;
    private static final int BAR2 = 2;
    private static final int THREADS = 4;
    private static final int ROUNDS = 3000;

    @TempDir
    Path dir;
    private ServedEdu served;
    private GuestMemory memory;
    private VfioUserClient client;

    @BeforeEach
    void start() throws Exception {
        served = new ServedEdu(dir);
        memory = new GuestMemory();
        memory.addRegion("ram", 0, MemoryBackend.file("ram", RAM_SIZE, dir));
        client = VfioUserClient.connect(served.socket, 5000, memory);
        client.write(VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
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
    void severalThreadsRoundTripAtOnceWhileTheServerAsksForDma() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        try {
            List<Future<?>> workers = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                long slot = 0x1000 + 8L * t; // each thread its own BAR2 word: what it reads is what it wrote
                long seed = t;
                workers.add(pool.submit(() -> {
                    for (int i = 0; i < ROUNDS; i++) {
                        long value = seed << 48 | i;
                        client.write(BAR2, slot, 8, value); // posted
                        assertEquals(value, client.read(BAR2, slot, 8), "a read comes after the write before it");
                        assertEquals(ID_VALUE, client.read(BAR0, ID, 4));
                    }
                    return null;
                }));
            }
            // Meanwhile the device copies RAM -> device -> RAM: DMA_READ and DMA_WRITE from the server,
            // answered by whichever thread reads the socket when they come.
            Random random = new Random(16);
            int copies = 0;
            while (workers.stream().anyMatch(f -> !f.isDone()) || copies < 4) {
                byte[] pattern = new byte[512];
                random.nextBytes(pattern);
                memory.ram().write(0x3000, pattern, 0, pattern.length);
                dma(0x3000, DMA_BUFFER, pattern.length, 0);
                dma(DMA_BUFFER, 0x90000, pattern.length, DMA_CMD_TO_RAM);
                byte[] out = new byte[pattern.length];
                memory.ram().read(0x90000, out, 0, out.length);
                assertArrayEquals(pattern, out, "DMA copy " + copies);
                copies++;
            }
            for (Future<?> f : workers) {
                f.get(60, TimeUnit.SECONDS);
            }
            assertEquals(0, client.failedRequests());
            assertTrue(served.server.dmaMessages() >= 2L * copies, served.server.dmaMessages() + " DMA messages for "
                    + copies + " copies there and back");
            assertTrue(client.postedWrites() > 0, "BAR writes were posted (those meeting a full socket waited)");
        } finally {
            pool.shutdownNow();
        }
    }

    private void dma(long src, long dst, int count, int direction) throws InterruptedException {
        client.write(BAR0, DMA_SRC, 8, src);
        client.write(BAR0, DMA_DST, 8, dst);
        client.write(BAR0, DMA_COUNT, 8, count);
        client.write(BAR0, DMA_CMD, 8, DMA_CMD_RUN | direction);
        Fds.await("the DMA completes", () -> (client.read(BAR0, DMA_CMD, 8) & DMA_CMD_RUN) == 0);
    }

    @Test
    void aFlushWaitsUntilTheServerHasProcessedEveryPostedWrite() {
        for (int i = 0; i < 1000; i++) {
            client.write(BAR2, 0x2000 + 8L * (i % 64), 8, i);
        }
        assertTrue(client.flushPostedWrites());
        for (int i = 1000 - 64; i < 1000; i++) {
            // Read on the device's side, not through the client: only the flush orders it.
            assertEquals(i, served.edu.bar2().getLong(0x2000 + 8 * (i % 64)), "word " + (i % 64));
        }
        assertTrue(client.flushPostedWrites(), "nothing posted since: at once");
        assertEquals(0, client.failedRequests());
    }

    @Test
    void postedWritesToAGoneServerAreDroppedAndCounted() throws Exception {
        served.server.close();
        Fds.await("the client notices", client::isDead);
        client.write(BAR0, 0x04, 4, 1);
        client.write(BAR0, 0x04, 4, 2);
        assertEquals(2, client.postedWriteErrors(), "each counted (the first one logged)");
        client.postWrites(false);
        client.write(BAR0, 0x04, 4, 3);
        assertEquals(2, client.postedWriteErrors(), "a waited write is not a posted one");
    }
}
