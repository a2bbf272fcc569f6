package io.jvfio.vfio.inprocess;

import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.devices.EduDevice;
import io.jvfio.vfio.devices.EduRegisters;
import io.jvfio.vfio.devices.GpioDevice;
import io.jvfio.vfio.migration.DeviceMigration;
import io.jvfio.vfio.migration.MigrationData;
import io.jvfio.vfio.migration.MigrationState;
import io.jvfio.vfio.user.Fds;
import io.jvfio.vmm.migration.DirtyLog;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MASTER;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MEMORY;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A device written in Java migrating in process: the edu device driven as a guest drives it (its
 * liveness register, a DMA into its buffer), its DMA writes to guest RAM in the dirty log, its state
 * saved through VFIO migration's STOP_COPY and loaded into another edu's RESUMING, read back there;
 * and a device without save and load hooks, and a stream of another version, refused.
 */
class InProcessMigrationTest {

    private static final int BAR0 = 0;
    private static final int CONFIG = VFIO_PCI_CONFIG_REGION_INDEX;
    private final List<AutoCloseable> closing = new ArrayList<>();
    private final Map<InProcessBackend, GuestMemory> memories = new HashMap<>();

    private InProcessBackend attach(String name, io.jvfio.vfio.emulated.EmulatedDevice device) {
        GuestMemory memory = new GuestMemory();
        memory.addRegion("ram", 0, MemoryBackend.memfd(name + " ram", 16 << 20, false));
        InProcessBackend b = InProcessBackend.attach(name, device, memory);
        closing.add(0, memory::close);
        closing.add(0, b);
        memories.put(b, memory);
        return b;
    }

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : closing) {
            c.close();
        }
    }

    private static void dma(InProcessBackend b, long src, long dst, int count, long command) throws InterruptedException {
        b.write(BAR0, EduRegisters.DMA_SRC, 8, src);
        b.write(BAR0, EduRegisters.DMA_DST, 8, dst);
        b.write(BAR0, EduRegisters.DMA_COUNT, 8, count);
        b.write(BAR0, EduRegisters.DMA_CMD, 8, EduRegisters.DMA_CMD_RUN | command);
        Fds.await("the DMA", () -> (b.read(BAR0, EduRegisters.DMA_CMD, 8) & EduRegisters.DMA_CMD_RUN) == 0);
    }

    private static byte[] buffer(InProcessBackend b, int length) {
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i += 4) {
            int v = (int) b.read(BAR0, EduRegisters.DMA_BUFFER + i, 4);
            for (int k = 0; k < 4 && i + k < length; k++) {
                bytes[i + k] = (byte) (v >>> 8 * k);
            }
        }
        return bytes;
    }

    @Test
    void theEdusRegistersAndBufferMoveAndItsDmaWritesAreLogged() throws Exception {
        EduDevice sourceEdu = new EduDevice();
        closing.add(sourceEdu);
        InProcessBackend source = attach("edu source", sourceEdu);
        source.write(CONFIG, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER); // the guest's driver enables it
        byte[] pattern = new byte[256];
        new Random(18).nextBytes(pattern);
        GuestMemory ram = memories.get(source);
        ram.ram().write(0x1000, pattern, 0, pattern.length);
        source.write(BAR0, EduRegisters.LIVENESS, 4, 0x5a5aa5a5L);
        dma(source, 0x1000, EduRegisters.DMA_BUFFER, pattern.length, 0); // RAM -> device

        DirtyLog log = source.dmaDirtyLog();
        log.start();
        dma(source, EduRegisters.DMA_BUFFER, 0x9000, pattern.length, EduRegisters.DMA_CMD_TO_RAM); // device -> RAM
        List<String> dirty = new ArrayList<>();
        log.collect((address, length) -> dirty.add(Long.toHexString(address) + "+" + Long.toHexString(length)));
        assertEquals(List.of("9000+1000"), dirty, "the page the device's DMA wrote, and only it");
        dirty.clear();
        log.collect((address, length) -> dirty.add(Long.toHexString(address)));
        assertEquals(List.of(), dirty, "a collect clears");
        log.stop();

        DeviceMigration out = source.migration();
        assertEquals(MigrationState.RUNNING, out.state());
        byte[] state;
        try (MigrationData data = out.setState(MigrationState.STOP_COPY)) {
            state = data.readAll();
        }
        assertNull(out.setState(MigrationState.STOP));
        assertTrue(state.length > 4096, "the state holds the 4 KiB DMA buffer: " + state.length + " bytes");

        EduDevice destinationEdu = new EduDevice();
        closing.add(destinationEdu);
        InProcessBackend destination = attach("edu destination", destinationEdu);
        DeviceMigration in = destination.migration();
        try (MigrationData data = in.setState(MigrationState.RESUMING)) {
            assertEquals(state.length, data.write(state));
        }
        assertNull(in.setState(MigrationState.RUNNING));
        assertEquals(~0x5a5aa5a5L & 0xFFFF_FFFFL, destination.read(BAR0, EduRegisters.LIVENESS, 4), "liveness");
        assertArrayEquals(pattern, buffer(destination, pattern.length), "the DMA buffer");
        assertEquals(EduRegisters.ID_VALUE, destination.read(BAR0, EduRegisters.ID, 4));
        assertEquals(PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, destination.read(CONFIG, PCI_COMMAND, 2),
                "its config space's command register");

        // The source, its migration given up (back to RUNNING), runs on as before.
        assertNull(out.setState(MigrationState.RUNNING));
        source.write(BAR0, EduRegisters.LIVENESS, 4, 1);
        assertEquals(0xFFFF_FFFEL, source.read(BAR0, EduRegisters.LIVENESS, 4));
    }

    @Test
    void aDeviceWithoutSaveAndLoadHooksDoesNotMigrateAndSaysWhy() {
        GpioDevice gpio = new GpioDevice();
        closing.add(gpio);
        InProcessBackend b = attach("gpio in-process", gpio);
        VfioException.MigrationNotSupported e = assertThrows(VfioException.MigrationNotSupported.class, b::migration);
        assertEquals("gpio in-process does not migrate: its Java device (io.jvfio.vfio.devices.GpioDevice) does not "
                + "implement MigratableDevice, so it has no state to save and load; a VM with it cannot migrate",
                e.getMessage());
    }

    @Test
    void aStreamOfAnotherVersionIsRefusedAsItIsWritten() throws Exception {
        EduDevice sourceEdu = new EduDevice();
        closing.add(sourceEdu);
        InProcessBackend source = attach("edu source", sourceEdu);
        byte[] state;
        try (MigrationData data = source.migration().setState(MigrationState.STOP_COPY)) {
            state = data.readAll();
        }
        state[4 + 2 + "edu".length()] = 2; // the header's version, little-endian: 2
        EduDevice destinationEdu = new EduDevice();
        closing.add(destinationEdu);
        InProcessBackend destination = attach("edu destination", destinationEdu);
        byte[] v2 = state;
        try (MigrationData data = destination.migration().setState(MigrationState.RESUMING)) {
            VfioException.MigrationFailed e = assertThrows(VfioException.MigrationFailed.class, () -> data.write(v2));
            assertTrue(e.getMessage().contains("version 2 of the 'edu' state format")
                    && e.getMessage().contains("loads version 1 only"), e.getMessage());
        }
        assertEquals(MigrationState.RESUMING, destination.migration().state(), "waiting for a stream it can load");
        destination.migration().reset();
        assertEquals(MigrationState.RUNNING, destination.migration().state());
    }
}
