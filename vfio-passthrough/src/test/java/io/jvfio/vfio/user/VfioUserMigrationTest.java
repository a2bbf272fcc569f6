package io.jvfio.vfio.user;

import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.devices.EduDevice;
import io.jvfio.vfio.devices.TinyDevice;
import io.jvfio.vfio.emulated.DeviceStateHeader;
import io.jvfio.vfio.emulated.DeviceStateStream;
import io.jvfio.vfio.migration.MigrationData;
import io.jvfio.vfio.migration.MigrationState;
import io.jvfio.vfio.user.client.ClientMigration;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vfio.user.server.VfioUserServer;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static io.jvfio.vfio.devices.EduRegisters.*;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_MIGRATION_PRE_COPY;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_MIGRATION_STOP_COPY;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MASTER;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MEMORY;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * vfio-user migration end to end: the Java edu served by one server, driven into a state through the
 * Java client, saved through the client (RUNNING, PRE_COPY, STOP_COPY: MIG_DATA_READ) and loaded into
 * a second edu behind a second server (RESUMING: MIG_DATA_WRITE, then RUNNING), whose state read back
 * through a client is the first one's; and the refusals: another device's stream, another version,
 * a corrupt or cut stream, a device without migration.
 */
class VfioUserMigrationTest {

    private static final long RAM_SIZE = 4 << 20;
    private static final int BAR0 = 0;
    private static final int BAR1 = 1;
    private static final int BAR2 = 2;

    @TempDir
    Path dir;
    private ServedEdu source;
    private ServedEdu destination;
    private GuestMemory sourceRam;
    private GuestMemory destinationRam;
    private VfioUserClient src;
    private VfioUserClient dst;

    @BeforeEach
    void start() throws Exception {
        source = new ServedEdu(Files.createDirectory(dir.resolve("source")));
        destination = new ServedEdu(Files.createDirectory(dir.resolve("destination")));
        sourceRam = new GuestMemory();
        sourceRam.addRegion("ram", 0, MemoryBackend.memfd("ram", RAM_SIZE, false));
        destinationRam = new GuestMemory();
        destinationRam.addRegion("ram", 0, MemoryBackend.memfd("ram", RAM_SIZE, false));
        src = VfioUserClient.connect(source.socket, 5000, sourceRam);
        dst = VfioUserClient.connect(destination.socket, 5000, destinationRam);
    }

    @AfterEach
    void stop() throws Exception {
        src.close();
        dst.close();
        sourceRam.close();
        destinationRam.close();
        destination.close();
        source.close();
    }

    /** Everything of edu a driver can read, through the client: registers, DMA buffer, MSI-X table and PBA, config space. */
    private static List<Long> snapshot(VfioUserClient c) {
        List<Long> s = new ArrayList<>();
        for (int r : new int[] {ID, LIVENESS, FACTORIAL, STATUS, IRQ_STATUS}) {
            s.add(c.read(BAR0, r, 4));
        }
        for (int r : new int[] {DMA_SRC, DMA_DST, DMA_COUNT, DMA_CMD}) {
            s.add(c.read(BAR0, r, 8));
        }
        for (int at = 0; at < DMA_BUFFER_SIZE; at += 8) {
            s.add(c.read(BAR0, DMA_BUFFER + at, 8));
        }
        for (int at = 0; at < MSIX_VECTORS * 16; at += 4) {
            s.add(c.read(BAR1, MSIX_TABLE_OFFSET + at, 4));
        }
        s.add(c.read(BAR1, MSIX_PBA_OFFSET, 8));
        for (int at = 0; at < 256; at += 4) {
            s.add(c.read(VFIO_PCI_CONFIG_REGION_INDEX, at, 4));
        }
        return s;
    }

    private static byte[] bar2(EduDevice edu) {
        byte[] b = new byte[BAR2_SIZE];
        edu.bar2().get(0, b);
        return b;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(a);
        out.writeBytes(b);
        return out.toByteArray();
    }

    /** Drives the source edu into a state worth migrating; returns nothing, the snapshot says what it is. */
    private void driveSource() throws Exception {
        VfioUserClient c = src;
        c.write(VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
        c.write(BAR0, LIVENESS, 4, 0x12345678);
        c.write(BAR0, FACTORIAL, 4, 10);
        Fds.await("factorial of 10", () -> (c.read(BAR0, STATUS, 4) & STATUS_COMPUTING) == 0);
        assertEquals(3628800, c.read(BAR0, FACTORIAL, 4));
        // DMA from guest RAM into the device's buffer.
        byte[] pattern = new byte[256];
        new Random(18).nextBytes(pattern);
        sourceRam.ram().write(0x2000, pattern, 0, pattern.length);
        c.write(BAR0, DMA_SRC, 8, 0x2000);
        c.write(BAR0, DMA_DST, 8, DMA_BUFFER + 0x100);
        c.write(BAR0, DMA_COUNT, 8, pattern.length);
        c.write(BAR0, DMA_CMD, 8, DMA_CMD_RUN);
        Fds.await("DMA RAM -> device", () -> (c.read(BAR0, DMA_CMD, 8) & DMA_CMD_RUN) == 0);
        // MSI-X programmed: every vector's address and data, vector 3 unmasked.
        for (int v = 0; v < MSIX_VECTORS; v++) {
            c.write(BAR1, MSIX_TABLE_OFFSET + v * 16, 4, 0xfee00000L | v << 12);
            c.write(BAR1, MSIX_TABLE_OFFSET + v * 16 + 8, 4, 0x40 + v);
        }
        c.write(BAR1, MSIX_TABLE_OFFSET + 3 * 16 + 12, 4, 0);
        // BAR2 through the client, at both ends and in between.
        c.write(BAR2, 0, 8, 0x1122334455667788L);
        c.write(BAR2, BAR2_SIZE / 2, 4, 0xcafef00dL);
        c.write(BAR2, BAR2_SIZE - 8, 8, -2L);
        // An interrupt raised and not acknowledged (no eventfd yet: it is pending in the server).
        c.write(BAR0, IRQ_RAISE, 4, 0x42);
        assertEquals(0x42, c.read(BAR0, IRQ_STATUS, 4));
    }

    @Test
    void edusStateSavedThroughPreCopyAndStopCopyLoadsIntoASecondServerIdentically() throws Exception {
        driveSource();
        ClientMigration out = src.migration();
        assertEquals(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_PRE_COPY, out.flags());
        assertEquals(MigrationState.RUNNING, out.state());

        MigrationData saving = out.setState(MigrationState.PRE_COPY);
        assertNotNull(saving, "RUNNING -> PRE_COPY starts a saving session");
        byte[] initial = saving.readAll();
        assertTrue(initial.length > BAR2_SIZE, "PRE_COPY gives BAR2's memory first: " + initial.length + " bytes");
        assertEquals(0, saving.readAll().length, "and nothing more until STOP_COPY");
        // The device still runs in PRE_COPY: BAR2 written now must reach the destination too.
        src.write(BAR2, 4096, 8, 0x0123456789abcdefL);
        List<Long> before = snapshot(src);
        byte[] bar2Before = bar2(source.edu);

        assertNull(out.setState(MigrationState.STOP_COPY), "PRE_COPY -> STOP_COPY continues the session");
        assertEquals(MigrationState.STOP_COPY, saving.session());
        byte[] rest = saving.readAll();
        assertTrue(rest.length > BAR2_SIZE, "BAR2 changed after PRE_COPY, so STOP_COPY carries it again: " + rest.length);
        out.setState(MigrationState.STOP);
        assertEquals(MigrationState.STOP, out.state());
        assertEquals(before, snapshot(src), "saving changes nothing the driver sees");

        ClientMigration in = dst.migration();
        MigrationData resuming = in.setState(MigrationState.RESUMING);
        assertEquals(MigrationState.RESUMING, resuming.session());
        assertEquals(initial.length + rest.length, resuming.write(concat(initial, rest)));
        assertNull(in.setState(MigrationState.RUNNING), "RESUMING -> STOP -> RUNNING: loaded, then running");
        assertEquals(MigrationState.RUNNING, in.state());

        assertEquals(before, snapshot(dst), "registers, DMA buffer, MSI-X table and PBA, config space");
        assertArrayEquals(bar2Before, bar2(destination.edu), "BAR2's memory");
        assertEquals(~0x12345678 & 0xFFFFFFFFL, dst.read(BAR0, LIVENESS, 4));
        assertEquals(3628800, dst.read(BAR0, FACTORIAL, 4));
        assertEquals(0x42, dst.read(BAR0, IRQ_STATUS, 4), "the interrupt is still raised, not acknowledged");
        assertEquals(0xfee03000L, dst.read(BAR1, MSIX_TABLE_OFFSET + 3 * 16, 4));
        assertEquals(0x0123456789abcdefL, dst.read(BAR2, 4096, 8));
        // The destination works on: a DMA out of the loaded buffer into its own RAM.
        dst.write(BAR0, DMA_SRC, 8, DMA_BUFFER + 0x100);
        dst.write(BAR0, DMA_DST, 8, 0x3000);
        dst.write(BAR0, DMA_COUNT, 8, 256);
        dst.write(BAR0, DMA_CMD, 8, DMA_CMD_RUN | DMA_CMD_TO_RAM);
        Fds.await("DMA device -> RAM on the destination", () -> (dst.read(BAR0, DMA_CMD, 8) & DMA_CMD_RUN) == 0);
        byte[] expected = new byte[256];
        sourceRam.ram().read(0x2000, expected, 0, 256);
        byte[] got = new byte[256];
        destinationRam.ram().read(0x3000, got, 0, 256);
        assertArrayEquals(expected, got, "the buffer the source's DMA filled, moved out by the destination's DMA");
    }

    @Test
    void aFactorialPendingWhenTheDeviceStoppedIsCarriedAndFinishesOnTheDestination() throws Exception {
        ClientMigration out = src.migration();
        assertNull(out.setState(MigrationState.STOP));
        src.write(BAR0, FACTORIAL, 4, 12);
        assertEquals(STATUS_COMPUTING, src.read(BAR0, STATUS, 4) & STATUS_COMPUTING, "kept busy while stopped");
        MigrationData saving = out.setState(MigrationState.STOP_COPY);
        assertNotNull(saving, "STOP -> STOP_COPY starts a saving session");
        byte[] stream = saving.readAll();
        ClientMigration in = dst.migration();
        in.setState(MigrationState.RESUMING).write(stream);
        in.setState(MigrationState.STOP);
        assertEquals(STATUS_COMPUTING, dst.read(BAR0, STATUS, 4) & STATUS_COMPUTING, "busy on the destination too");
        in.setState(MigrationState.RUNNING);
        Fds.await("the carried factorial", () -> (dst.read(BAR0, STATUS, 4) & STATUS_COMPUTING) == 0);
        assertEquals(479001600, dst.read(BAR0, FACTORIAL, 4), "12!");
        // And the source, run again, finishes it too.
        out.setState(MigrationState.RUNNING);
        Fds.await("the source's factorial", () -> (src.read(BAR0, STATUS, 4) & STATUS_COMPUTING) == 0);
        assertEquals(479001600, src.read(BAR0, FACTORIAL, 4));
    }

    private byte[] savedStream() {
        ClientMigration out = src.migration();
        out.setState(MigrationState.STOP);
        byte[] stream = out.setState(MigrationState.STOP_COPY).readAll();
        out.setState(MigrationState.RUNNING);
        return stream;
    }

    /** Writes {@code stream} into the destination's RESUMING and expects the refusal; returns the server's reason. */
    private String refusedOnWrite(byte[] stream) {
        ClientMigration in = dst.migration();
        MigrationData resuming = in.setState(MigrationState.RESUMING);
        VfioException e = assertThrows(VfioException.MigrationFailed.class, () -> resuming.write(stream));
        assertTrue(e.getMessage().contains("EINVAL"), e.getMessage());
        assertEquals(MigrationState.RESUMING, in.state(), "a refused stream leaves RESUMING for a good one");
        String why = destination.server.migrationFailure();
        in.reset();
        assertEquals(MigrationState.RUNNING, in.state());
        return why;
    }

    @Test
    void aStreamOfAnotherDeviceTypeIsRefusedNamingBoth() {
        ByteBuf gpio = Unpooled.buffer();
        new DeviceStateHeader("gpio", 1).write(gpio);
        gpio.writeZero(64);
        byte[] stream = new byte[gpio.readableBytes()];
        gpio.readBytes(stream);
        String why = refusedOnWrite(stream);
        assertTrue(why.contains("'gpio' device") && why.contains("this device is 'edu'"), why);
    }

    @Test
    void aStreamOfAnotherStateVersionIsRefusedNamingBoth() {
        byte[] stream = savedStream();
        int versionAt = 4 + 2 + "edu".length();
        stream[versionAt] = 2; // version 2 of edu's format
        String why = refusedOnWrite(stream);
        assertTrue(why.contains("version 2 of the 'edu' state format") && why.contains("loads version 1 only"), why);
    }

    @Test
    void aStreamWithACorruptHeaderIsRefused() {
        byte[] stream = savedStream();
        stream[0] ^= 0x55;
        String why = refusedOnWrite(stream);
        assertTrue(why.contains("does not begin with a jvfio device state header"), why);
    }

    @Test
    void aStreamCutShortFailsTheLoadAndLeavesTheDeviceInErrorUntilAReset() {
        byte[] stream = savedStream();
        ClientMigration in = dst.migration();
        in.setState(MigrationState.RESUMING).write(Arrays.copyOf(stream, stream.length - 1));
        VfioException.MigrationFailed e = assertThrows(VfioException.MigrationFailed.class,
                () -> in.setState(MigrationState.STOP));
        assertEquals("ERROR", e.leftIn(), e.getMessage());
        assertTrue(destination.server.migrationFailure().contains("no end mark"), destination.server.migrationFailure());
        assertThrows(VfioException.class, () -> in.setState(MigrationState.RUNNING), "no arc leaves ERROR");
        in.reset();
        assertEquals(MigrationState.RUNNING, in.state());
        assertEquals(ID_VALUE, dst.read(BAR0, ID, 4), "and the device works again");
    }

    @Test
    void theStreamsFormatIsCheckedOnTheDeviceToo() {
        // The same refusals without the protocol, as a VMM loading a stream from a file would meet them.
        byte[] stream = savedStream();
        try (EduDevice other = new EduDevice()) {
            other.stop();
            DeviceStateStream.load(other, Unpooled.wrappedBuffer(stream));
            assertArrayEquals(bar2(source.edu), bar2(other));
            ByteBuf trailing = Unpooled.wrappedBuffer(stream, new byte[] {1});
            VfioException e = assertThrows(VfioException.class, () -> DeviceStateStream.load(other, trailing));
            assertTrue(e.getMessage().contains("1 bytes after its end mark"), e.getMessage());
        }
    }

    @Test
    void aDeviceWithoutMigrationSaysSoAsTheKernelsNoMigOpsDoes() throws Exception {
        TinyDevice tiny = new TinyDevice();
        Path socket = dir.resolve("tiny.sock");
        try (VfioUserServer server = VfioUserServer.start(socket, tiny);
             VfioUserClient c = VfioUserClient.connect(socket, 5000, null)) {
            VfioException e = assertThrows(VfioException.MigrationNotSupported.class, c::migration);
            assertTrue(e.getMessage().contains("ENOTTY"), e.getMessage());
            assertNull(server.migrationState());
        }
    }

    @Test
    void stopCopyToPreCopyIsRefusedByTheClientBeforeItAsks() {
        ClientMigration out = src.migration();
        out.setState(MigrationState.STOP_COPY);
        VfioException e = assertThrows(VfioException.class, () -> out.setState(MigrationState.PRE_COPY));
        assertTrue(e.getMessage().contains("refused before asking the server"), e.getMessage());
        assertEquals(MigrationState.STOP_COPY, out.state());
        out.setState(MigrationState.RUNNING);
    }

    @Test
    void dmaLoggingReportsThePagesTheDeviceWroteAndClearsThem() throws Exception {
        io.jvfio.vfio.user.client.ClientDmaLogging logging = src.dmaLogging();
        assertEquals(4096, logging.start(512, 0, RAM_SIZE), "a hint below 4 KiB is raised to it");
        src.write(VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
        // A DMA read of RAM (not logged), then a write of 4 KiB at 0x3800: pages 3 and 4.
        src.write(BAR0, DMA_SRC, 8, 0x10000);
        src.write(BAR0, DMA_DST, 8, DMA_BUFFER);
        src.write(BAR0, DMA_COUNT, 8, DMA_BUFFER_SIZE);
        src.write(BAR0, DMA_CMD, 8, DMA_CMD_RUN);
        Fds.await("DMA RAM -> device", () -> (src.read(BAR0, DMA_CMD, 8) & DMA_CMD_RUN) == 0);
        src.write(BAR0, DMA_SRC, 8, DMA_BUFFER);
        src.write(BAR0, DMA_DST, 8, 0x3800);
        src.write(BAR0, DMA_COUNT, 8, DMA_BUFFER_SIZE);
        src.write(BAR0, DMA_CMD, 8, DMA_CMD_RUN | DMA_CMD_TO_RAM);
        Fds.await("DMA device -> RAM", () -> (src.read(BAR0, DMA_CMD, 8) & DMA_CMD_RUN) == 0);
        assertArrayEquals(new long[] {0b11000}, logging.report(0, 0x40000, 4096));
        assertArrayEquals(new long[] {0}, logging.report(0, 0x40000, 4096), "a report clears what it read");
        // Reported in pages of 8 KiB, a 4 KiB page dirty marks the 8 KiB page around it.
        src.write(BAR0, DMA_CMD, 8, DMA_CMD_RUN | DMA_CMD_TO_RAM);
        Fds.await("DMA device -> RAM again", () -> (src.read(BAR0, DMA_CMD, 8) & DMA_CMD_RUN) == 0);
        assertArrayEquals(new long[] {0b110}, logging.report(0, 0x40000, 8192));
        VfioException outside = assertThrows(VfioException.class, () -> logging.report(RAM_SIZE, 4096, 4096));
        assertTrue(outside.getMessage().contains("EINVAL"), outside.getMessage());
        logging.stop();
        VfioException off = assertThrows(VfioException.class, () -> logging.report(0, 4096, 4096));
        assertTrue(off.getMessage().contains("EINVAL"), off.getMessage());
    }
}
