package io.jvfio.launcher;

import io.jvfio.vfio.migration.MigrationData;
import io.jvfio.vfio.migration.MigrationState;
import io.jvfio.vfio.user.client.ClientMigration;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vmm.linux.jna.DirectBuffers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static io.jvfio.vfio.devices.EduRegisters.*;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * The Java edu's state moves between two {@code jvfio --serve edu} processes over vfio-user: saved from
 * the first through PRE_COPY and STOP_COPY (VFIO_USER_MIG_DATA_READ), loaded into the second
 * (RESUMING, VFIO_USER_MIG_DATA_WRITE), read back identical through a client of the second.
 */
class VfioUserMigrationIT {

    private static final int BAR0 = 0;
    private static final int BAR1 = 1;
    private static final int BAR2 = 2;

    /** What a driver reads of edu: registers, DMA buffer, MSI-X table, config space and all of BAR2. */
    private static List<Object> state(VfioUserClient c) {
        List<Object> s = new ArrayList<>();
        for (int r : new int[] {ID, LIVENESS, FACTORIAL, STATUS, IRQ_STATUS, DMA_SRC, DMA_DST, DMA_COUNT}) {
            s.add(c.read(BAR0, r, 4));
        }
        for (int at = 0; at < DMA_BUFFER_SIZE; at += 4) {
            s.add(c.read(BAR0, DMA_BUFFER + at, 4));
        }
        for (int at = 0; at < MSIX_VECTORS * 16; at += 4) {
            s.add(c.read(BAR1, MSIX_TABLE_OFFSET + at, 4));
        }
        for (int at = 0; at < 256; at += 4) {
            s.add(c.read(VFIO_PCI_CONFIG_REGION_INDEX, at, 4));
        }
        ByteBuffer bar2 = ByteBuffer.allocateDirect(BAR2_SIZE);
        c.read(BAR2, 0, DirectBuffers.address(bar2), BAR2_SIZE);
        s.add(bar2);
        return s;
    }

    @Test
    void edusStateMovesFromOneServeProcessToAnother(@TempDir Path dir) throws Exception {
        Path from = dir.resolve("source.sock");
        Path to = dir.resolve("destination.sock");
        try (ServerProcess source = ServerProcess.start(dir.resolve("source.log"), "--serve", "edu,socket=" + from);
             ServerProcess destination = ServerProcess.start(dir.resolve("destination.log"), "--serve",
                     "edu,socket=" + to)) {
            source.awaitOutput("jvfio: serving edu", 60);
            destination.awaitOutput("jvfio: serving edu", 60);
            List<Object> before;
            ByteArrayOutputStream stream = new ByteArrayOutputStream();
            try (VfioUserClient c = VfioUserClient.connect(from, 5000, null)) {
                c.write(BAR0, LIVENESS, 4, 0x0badcafe);
                c.write(BAR0, FACTORIAL, 4, 9);
                ServerProcess.await("9! on the source", () -> (c.read(BAR0, STATUS, 4) & STATUS_COMPUTING) == 0, 10);
                c.write(BAR0, DMA_SRC, 4, 0x1000);
                c.write(BAR0, DMA_COUNT, 4, 64);
                for (int at = 0; at < DMA_BUFFER_SIZE; at += 4) {
                    c.write(BAR0, DMA_BUFFER + at, 4, at * 0x01010101L);
                }
                for (int v = 0; v < MSIX_VECTORS; v++) {
                    c.write(BAR1, MSIX_TABLE_OFFSET + v * 16, 4, 0xfee00000L | v << 12);
                    c.write(BAR1, MSIX_TABLE_OFFSET + v * 16 + 8, 4, 0x30 + v);
                }
                for (int at = 0; at < BAR2_SIZE; at += 64 * 1024 + 8) {
                    c.write(BAR2, at, 8, ~(long) at);
                }
                c.write(BAR0, IRQ_RAISE, 4, 0x100);
                before = state(c);
                assertEquals(362880L, before.get(2), "9! computed on the source");

                ClientMigration m = c.migration();
                MigrationData saving = m.setState(MigrationState.PRE_COPY);
                stream.writeBytes(saving.readAll());
                m.setState(MigrationState.STOP_COPY);
                stream.writeBytes(saving.readAll());
                m.setState(MigrationState.STOP);
            }
            try (VfioUserClient c = VfioUserClient.connect(to, 5000, null)) {
                ClientMigration m = c.migration();
                MigrationData resuming = m.setState(MigrationState.RESUMING);
                assertNotNull(resuming);
                assertEquals(stream.size(), resuming.write(stream.toByteArray()));
                m.setState(MigrationState.RUNNING);
                assertEquals(before, state(c), "the destination process reads what the source held");
            }
        }
    }
}
