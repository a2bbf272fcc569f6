package io.jvfio.vfio.passthrough;

import io.jvfio.irq.DeliveryStatus;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.InterruptSink;
import io.jvfio.irq.MsiMessage;
import io.jvfio.irq.VirtualInterruptController;
import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vfio.devices.EduDevice;
import io.jvfio.vfio.devices.GpioDevice;
import io.jvfio.vfio.devices.TinyDevice;
import io.jvfio.vfio.inprocess.InProcessBackend;
import io.jvfio.vfio.migration.MigrationState;
import io.jvfio.vfio.user.Fds;
import io.jvfio.vfio.user.ServedEdu;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vfio.user.server.VfioUserServer;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.migration.DirtyLog;
import io.jvfio.vmm.migration.MigrationException;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciHostBridge;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;

import static io.jvfio.vfio.devices.EduRegisters.DMA_BUFFER;
import static io.jvfio.vfio.devices.EduRegisters.DMA_BUFFER_SIZE;
import static io.jvfio.vfio.devices.EduRegisters.DMA_CMD;
import static io.jvfio.vfio.devices.EduRegisters.DMA_CMD_RUN;
import static io.jvfio.vfio.devices.EduRegisters.DMA_CMD_TO_RAM;
import static io.jvfio.vfio.devices.EduRegisters.DMA_COUNT;
import static io.jvfio.vfio.devices.EduRegisters.DMA_DST;
import static io.jvfio.vfio.devices.EduRegisters.DMA_SRC;
import static io.jvfio.vfio.devices.EduRegisters.FACTORIAL;
import static io.jvfio.vfio.devices.EduRegisters.ID;
import static io.jvfio.vfio.devices.EduRegisters.ID_VALUE;
import static io.jvfio.vfio.devices.EduRegisters.LIVENESS;
import static io.jvfio.vfio.devices.EduRegisters.MSIX_FIRE;
import static io.jvfio.vfio.devices.EduRegisters.STATUS;
import static io.jvfio.vfio.devices.EduRegisters.STATUS_COMPUTING;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MASTER;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MEMORY;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A passed-through device moved between two machines as a live migration moves it: each machine its own
 * address space, PCI bus, virtual local APIC and edu behind its own vfio-user server on a real socket.
 * The test plays the source's guest (BARs placed, memory and bus mastering on, MSI-X vector 0
 * programmed, edu's registers written, a DMA into edu's buffer), pauses and snapshots the source's
 * device, restores it into the destination's, and plays the destination's guest, which finds the
 * device as it left it: config space, BARs decoded where it put them, edu's registers and buffer, and
 * an interrupt edu raises arriving with the message it programmed. And the refusals: another version,
 * another device, a back end without migration.
 */
class PassthroughMigrationTest {

    static final PciDevFn AT = new PciDevFn(4, 0);
    static final long BAR0 = 0xfe00_0000L;
    static final long BAR1 = 0xfe10_0000L;
    static final long BAR2 = 0x8_0000_0000L;
    static final int VECTOR = 0x61;
    static final long MSI_ADDRESS = 0xFEE0_0000L;

    @TempDir
    Path dir;
    final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            open.get(i).close();
        }
    }

    /** The MSI messages a machine's interrupt sink received, then the local APICs that take them. */
    static final class RecordingSink implements InterruptSink {
        final VirtualInterruptController apics = new VirtualInterruptController(1);
        final Queue<MsiMessage> received = new ConcurrentLinkedQueue<>();

        @Override
        public DeliveryStatus deliverMsi(long address, int data) {
            received.add(new MsiMessage(address, data));
            return apics.deliverMsi(address, data);
        }

        @Override
        public void addEoiListener(EoiListener listener) {
            apics.addEoiListener(listener);
        }
    }

    /** One machine: guest RAM, address space, PCI bus, interrupts, and the device over {@code backend}. */
    final class Machine implements AutoCloseable {
        final GuestMemory ram;
        final AddressSpace space = new AddressSpace();
        final PciHostBridge bridge = new PciHostBridge(space, PciHostBridge.DEFAULT_ECAM_BASE);
        final RecordingSink sink = new RecordingSink();
        final InterruptRouter router = new InterruptRouter(sink);
        final PassthroughDevice device;
        final int devfn;

        Machine(GuestMemory ram, String name, VfioBackend backend, PassthroughOptions options) {
            this.ram = ram;
            this.device = new PassthroughDevice(name, backend, options, space, router);
            this.devfn = bridge.add(AT, false, device, "vfio-user-pci").devfn();
        }

        int cfgRead(int offset, int size) {
            space.out(PciHostBridge.CONFIG_ADDRESS, 4, 0x8000_0000L | devfn << 8 | (offset & 0xFC));
            return (int) space.in(PciHostBridge.CONFIG_DATA + (offset & 3), size);
        }

        void cfgWrite(int offset, int size, long value) {
            space.out(PciHostBridge.CONFIG_ADDRESS, 4, 0x8000_0000L | devfn << 8 | (offset & 0xFC));
            space.out(PciHostBridge.CONFIG_DATA + (offset & 3), size, value);
        }

        /** What the guest sees of the config registers a migration carries: BARs, command, interrupt line, MSI-X control. */
        List<Integer> guestConfig() {
            List<Integer> c = new ArrayList<>();
            for (int at = 0x10; at <= 0x24; at += 4) {
                c.add(cfgRead(at, 4));
            }
            c.add(cfgRead(0x30, 4));
            c.add(cfgRead(0x04, 2));
            c.add(cfgRead(0x3c, 1));
            c.add(cfgRead(0x52, 2));
            return c;
        }

        @Override
        public void close() {
            device.close();
            router.close();
        }
    }

    /** A machine whose device is an edu behind its own vfio-user server in {@code name}'s directory. */
    Machine eduMachine(String name, PassthroughOptions options) throws Exception {
        ServedEdu served = new ServedEdu(Files.createDirectory(dir.resolve(name)));
        open.add(served);
        GuestMemory ram = new GuestMemory();
        ram.addRegion("ram", 0, MemoryBackend.memfd("ram", 16 << 20, false));
        open.add(ram);
        VfioUserClient client = VfioUserClient.connect(served.socket, 5000, ram);
        open.add(client);
        Machine m = new Machine(ram, "edu " + name, client, options);
        open.add(m);
        return m;
    }

    /** The source's guest: edu brought up, MSI-X vector 0 on, registers and buffer written; returns the DMA'd bytes. */
    static byte[] driveSource(Machine src) throws Exception {
        src.cfgWrite(0x10, 4, BAR0);
        src.cfgWrite(0x14, 4, BAR1);
        src.cfgWrite(0x18, 4, BAR2 & 0xFFFF_FFFFL);
        src.cfgWrite(0x1c, 4, BAR2 >>> 32);
        src.cfgWrite(0x04, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
        src.cfgWrite(0x3c, 1, 11);
        src.space.write(BAR1, 4, MSI_ADDRESS);
        src.space.write(BAR1 + 4, 4, 0);
        src.space.write(BAR1 + 8, 4, VECTOR);
        src.space.write(BAR1 + 12, 4, 0); // unmasked
        src.space.write(BAR1 + 16, 4, MSI_ADDRESS); // vector 1 programmed, left masked
        src.space.write(BAR1 + 16 + 8, 4, 0x62);
        src.cfgWrite(0x52, 2, 0x8000); // MSI-X on
        src.space.write(BAR0 + LIVENESS, 4, 0x1234_5678);
        src.space.write(BAR0 + FACTORIAL, 4, 10);
        Fds.await("10! on the source", () -> (src.space.read(BAR0 + STATUS, 4) & STATUS_COMPUTING) == 0);
        byte[] pattern = new byte[DMA_BUFFER_SIZE];
        new Random(18).nextBytes(pattern);
        src.ram.ram().write(0x2000, pattern, 0, pattern.length);
        src.space.write(BAR0 + DMA_SRC, 8, 0x2000);
        src.space.write(BAR0 + DMA_DST, 8, DMA_BUFFER);
        src.space.write(BAR0 + DMA_COUNT, 8, pattern.length);
        src.space.write(BAR0 + DMA_CMD, 8, DMA_CMD_RUN);
        Fds.await("DMA RAM -> edu on the source", () -> (src.space.read(BAR0 + DMA_CMD, 8) & DMA_CMD_RUN) == 0);
        src.space.write(BAR0 + MSIX_FIRE, 4, 0);
        Fds.await("MSI-X vector 0 on the source", () -> src.sink.apics.apic(0).isPending(VECTOR));
        src.space.write(BAR2 + 0x800, 8, 0x0123_4567_89ab_cdefL); // BAR2: directly mapped memory
        return pattern;
    }

    static byte[] eduBuffer(Machine m) {
        byte[] b = new byte[DMA_BUFFER_SIZE];
        for (int at = 0; at < b.length; at += 8) {
            long v = m.space.read(BAR0 + DMA_BUFFER + at, 8);
            for (int i = 0; i < 8; i++) {
                b[at + i] = (byte) (v >>> (8 * i));
            }
        }
        return b;
    }

    @Test
    void eduMovesToASecondMachineAndItsGuestFindsItAsItLeftIt() throws Exception {
        Machine src = eduMachine("source", PassthroughOptions.DEFAULT);
        Machine dst = eduMachine("destination", PassthroughOptions.DEFAULT);
        byte[] pattern = driveSource(src);
        assertNull(src.device.migrationBlocker());
        assertNull(dst.device.migrationBlocker());
        assertEquals(src.device.stateId(), dst.device.stateId());
        assertEquals("pci 1234:11e8 subsystem 1af4:1100 class 00ff00 BAR0 1M BAR1 4K BAR2 1M 64-bit prefetchable",
                src.device.stateId());
        List<Integer> config = src.guestConfig();

        src.device.pause();
        byte[] state = src.device.snapshot();
        assertEquals(config, src.guestConfig(), "pausing and saving change nothing the guest sees");

        dst.device.restore(state);

        assertEquals(config, dst.guestConfig(), "BARs, command, interrupt line, MSI-X control");
        assertEquals(BAR0, dst.bridge.mappedAddress(AT, 0), "BAR0 decodes where the guest put it");
        assertEquals(BAR1, dst.bridge.mappedAddress(AT, 1));
        assertEquals(BAR2, dst.bridge.mappedAddress(AT, 2));
        assertNotNull(dst.space.findDirect(BAR2, 8), "BAR2's memory is mapped directly, as on the source");
        assertEquals(src.device.directRegions().size(), dst.device.directRegions().size());
        assertEquals(ID_VALUE, dst.space.read(BAR0 + ID, 4));
        assertEquals(~0x1234_5678 & 0xFFFF_FFFFL, dst.space.read(BAR0 + LIVENESS, 4), "edu's liveness register");
        assertEquals(3628800, dst.space.read(BAR0 + FACTORIAL, 4), "10!");
        assertArrayEquals(pattern, eduBuffer(dst), "the buffer the source's DMA filled");
        assertEquals(0x0123_4567_89ab_cdefL, dst.space.read(BAR2 + 0x800, 8), "BAR2's memory");
        assertEquals(0x8000, dst.cfgRead(0x52, 2) & 0xC000, "MSI-X on, not function-masked");
        assertEquals(0, dst.space.read(BAR1 + 0x800, 8), "the PBA: nothing pending");
        assertEquals(0x62, dst.space.read(BAR1 + 16 + 8, 4), "vector 1's data, in the emulated table");
        assertEquals(1, dst.space.read(BAR1 + 16 + 12, 4), "still masked");

        // An interrupt edu raises on the destination reaches its APIC with the message the guest programmed.
        dst.space.write(BAR0 + MSIX_FIRE, 4, 0);
        Fds.await("MSI-X vector 0 on the destination", () -> dst.sink.apics.apic(0).isPending(VECTOR));
        assertEquals(List.of(new MsiMessage(MSI_ADDRESS, VECTOR)), List.copyOf(dst.sink.received));

        // And the destination's edu works on: a DMA out of the loaded buffer into the destination's RAM.
        dst.space.write(BAR0 + DMA_SRC, 8, DMA_BUFFER);
        dst.space.write(BAR0 + DMA_DST, 8, 0x9000);
        dst.space.write(BAR0 + DMA_CMD, 8, DMA_CMD_RUN | DMA_CMD_TO_RAM);
        Fds.await("DMA edu -> RAM on the destination", () -> (dst.space.read(BAR0 + DMA_CMD, 8) & DMA_CMD_RUN) == 0);
        byte[] back = new byte[pattern.length];
        dst.ram.ram().read(0x9000, back, 0, back.length);
        assertArrayEquals(pattern, back);
    }

    @Test
    void anInterruptAMaskHeldIsCarriedAndDeliveredWhenTheDestinationsGuestUnmasks() throws Exception {
        Machine src = eduMachine("source", PassthroughOptions.DEFAULT);
        Machine dst = eduMachine("destination", PassthroughOptions.DEFAULT);
        driveSource(src);
        // Vector 1 used once (unmasked), then masked: its interrupt waits in the PBA.
        src.space.write(BAR1 + 16 + 12, 4, 0);
        src.space.write(BAR1 + 16 + 12, 4, 1);
        src.space.write(BAR0 + MSIX_FIRE, 4, 1);
        Fds.await("PBA bit 1 on the source", () -> (src.space.read(BAR1 + 0x800, 8) & 2) != 0);
        src.device.pause();
        dst.device.restore(src.device.snapshot());
        assertEquals(2, dst.space.read(BAR1 + 0x800, 8), "the PBA shows it on the destination");
        assertEquals(List.of(), List.copyOf(dst.sink.received), "held, not delivered");
        dst.space.write(BAR1 + 16 + 12, 4, 0);
        Fds.await("vector 1 delivered at the unmask", () -> dst.sink.apics.apic(0).isPending(0x62));
        assertEquals(List.of(new MsiMessage(MSI_ADDRESS, 0x62)), List.copyOf(dst.sink.received), "once");
        Fds.await("the PBA clear", () -> dst.space.read(BAR1 + 0x800, 8) == 0);
    }

    @Test
    void msiMovesWithItsMessage() throws Exception {
        Machine src = eduMachine("source", PassthroughOptions.DEFAULT);
        Machine dst = eduMachine("destination", PassthroughOptions.DEFAULT);
        src.cfgWrite(0x10, 4, BAR0);
        src.cfgWrite(0x04, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
        src.cfgWrite(0x44, 4, MSI_ADDRESS);
        src.cfgWrite(0x48, 4, 0);
        src.cfgWrite(0x4c, 2, 0x41);
        src.cfgWrite(0x42, 2, 1); // MSI on
        src.device.pause();
        dst.device.restore(src.device.snapshot());
        assertEquals(src.cfgRead(0x40, 4), dst.cfgRead(0x40, 4), "MSI control");
        assertEquals(MSI_ADDRESS, Integer.toUnsignedLong(dst.cfgRead(0x44, 4)));
        assertEquals(0x41, dst.cfgRead(0x4c, 2));
        assertEquals(1, dst.device.routes().size());
        assertEquals(new MsiMessage(MSI_ADDRESS, 0x41), dst.device.routes().get(0).message());
        dst.space.write(BAR0 + io.jvfio.vfio.devices.EduRegisters.IRQ_RAISE, 4, 0x5);
        Fds.await("MSI vector 0x41 on the destination", () -> dst.sink.apics.apic(0).isPending(0x41));
        assertEquals(0, dst.cfgRead(0x14, 4), "BAR1 left unplaced, as the guest left it");
        assertEquals(-1, dst.bridge.mappedAddress(AT, 1));
    }

    @Test
    void theSourceRunsAgainAfterAFailedMigration() throws Exception {
        Machine src = eduMachine("source", PassthroughOptions.DEFAULT);
        driveSource(src);
        src.device.pause();
        src.device.pause(); // idempotent
        src.device.snapshot();
        src.device.resume();
        assertEquals(MigrationState.RUNNING, ((VfioUserClient) src.device.backend()).migration().state());
        src.space.write(BAR0 + FACTORIAL, 4, 5);
        Fds.await("5! on the source again", () -> (src.space.read(BAR0 + STATUS, 4) & STATUS_COMPUTING) == 0);
        assertEquals(120, src.space.read(BAR0 + FACTORIAL, 4));
    }

    @Test
    void aSnapshotIsTakenOnlyWhilePaused() throws Exception {
        Machine src = eduMachine("source", PassthroughOptions.DEFAULT);
        MigrationException e = assertThrows(MigrationException.class, src.device::snapshot);
        assertEquals("edu source: its state is taken while it is paused: pause() it first", e.getMessage());
    }

    @Test
    void aStateOfAnotherVersionIsRefusedAndTheDestinationLeftAsItWas() throws Exception {
        Machine src = eduMachine("source", PassthroughOptions.DEFAULT);
        Machine dst = eduMachine("destination", PassthroughOptions.DEFAULT);
        driveSource(src);
        src.device.pause();
        byte[] state = src.device.snapshot();
        state[7] = 2; // the version, big-endian after the magic
        MigrationException e = assertThrows(MigrationException.class, () -> dst.device.restore(state));
        assertEquals("edu destination: the stream's passthrough device state is version 2, this jvfio reads version 1: "
                + "migrate between jvfio versions that share it", e.getMessage());
        state[0] = 'X';
        e = assertThrows(MigrationException.class, () -> dst.device.restore(state));
        assertTrue(e.getMessage().startsWith("edu destination: the stream's state is not a passthrough device's (it "
                + "begins 0x58565054"), e.getMessage());
        e = assertThrows(MigrationException.class, () -> dst.device.restore(java.util.Arrays.copyOf(src.device.snapshot(),
                100)));
        assertTrue(e.getMessage().contains("ends early (100 bytes): it was cut short"), e.getMessage());
        assertEquals(MigrationState.RUNNING, ((VfioUserClient) dst.device.backend()).migration().state(),
                "the destination's device was not touched");
        assertEquals(0, dst.cfgRead(0x10, 4), "nor its BARs");
    }

    @Test
    void aStateOfAnotherDeviceIsRefusedSayingWhatDiffers() throws Exception {
        Machine src = eduMachine("source", PassthroughOptions.DEFAULT);
        Machine dst = eduMachine("destination", PassthroughOptions.DEFAULT.withIds(0x1b36, 0x0005, null, null, null));
        driveSource(src);
        src.device.pause();
        byte[] state = src.device.snapshot();
        assertNotEquals(src.device.stateId(), dst.device.stateId());
        MigrationException e = assertThrows(MigrationException.class, () -> dst.device.restore(state));
        assertEquals("edu destination: the stream's state is another device's: the stream's device is 1234:11e8, this "
                + "one is 1b36:0005", e.getMessage());
        Machine noRom = eduMachine("no-rom", PassthroughOptions.DEFAULT.withRomBar(false));
        assertEquals(src.device.stateId(), noRom.device.stateId(), "edu has no ROM: rombar=off changes nothing");
        assertEquals(MigrationState.RUNNING, ((VfioUserClient) dst.device.backend()).migration().state());
    }

    @Test
    void backEndsWithoutMigrationBlockIt() throws Exception {
        Machine edu = eduMachine("recorded", PassthroughOptions.DEFAULT);
        // The same edu through a back end that has no VFIO migration of its own.
        PassthroughDevice recorded = new PassthroughDevice("recorded edu", new RecordingBackend(edu.device.backend()),
                PassthroughOptions.DEFAULT, new AddressSpace(), edu.router);
        open.add(recorded);
        assertEquals("recorded edu: VFIO migration is not supported by its back end (" + edu.device.backend().name()
                + " has no VFIO migration interface)", recorded.migrationBlocker());
        MigrationException e = assertThrows(MigrationException.class, recorded::pause);
        assertEquals(recorded.migrationBlocker(), e.getMessage());
        assertNull(recorded.dirtyLog());

        // In process, a Java device migrates through its MigratableDevice hooks (edu), and one without them
        // (gpio) is a blocker that names its class.
        EduDevice inProcess = new EduDevice();
        open.add(inProcess);
        VfioBackend local = InProcessBackend.attach("in-process edu", inProcess, null);
        open.add(local);
        PassthroughDevice d = new PassthroughDevice("d0", local, PassthroughOptions.DEFAULT, new AddressSpace(),
                edu.router);
        open.add(d);
        assertNull(d.migrationBlocker());
        GpioDevice gpio = new GpioDevice();
        VfioBackend gpioLocal = InProcessBackend.attach("in-process gpio", gpio, null);
        open.add(gpioLocal);
        PassthroughDevice g = new PassthroughDevice("g0", gpioLocal, PassthroughOptions.DEFAULT, new AddressSpace(),
                edu.router);
        open.add(g);
        assertTrue(g.migrationBlocker().startsWith("g0: VFIO migration is not supported by the device (")
                && g.migrationBlocker().contains("GpioDevice"), g.migrationBlocker());

        // A vfio-user device whose server offers no migration: the server answers ENOTTY.
        Path socket = dir.resolve("tiny.sock");
        VfioUserServer server = VfioUserServer.start(socket, new TinyDevice());
        open.add(server);
        VfioUserClient client = VfioUserClient.connect(socket, 5000, null);
        open.add(client);
        PassthroughDevice tiny = new PassthroughDevice("tiny", client, PassthroughOptions.DEFAULT, new AddressSpace(),
                edu.router);
        open.add(tiny);
        String blocker = tiny.migrationBlocker();
        assertTrue(blocker.startsWith("tiny: VFIO migration is not supported by the device ("), blocker);
        assertTrue(blocker.contains("ENOTTY"), blocker);
        assertThrows(MigrationException.class, () -> tiny.restore(new byte[0]));
    }

    @Test
    void theDirtyLogReportsThePagesTheDevicesDmaWrote() throws Exception {
        Machine src = eduMachine("source", PassthroughOptions.DEFAULT);
        driveSource(src);
        DirtyLog log = src.device.dirtyLog();
        assertNotNull(log);
        log.start();
        try {
            List<long[]> dirty = new ArrayList<>();
            log.collect((address, length) -> dirty.add(new long[] {address, length}));
            assertEquals(0, dirty.size(), "nothing written since the start");
            // edu's buffer out to guest RAM at 0x5800: 4 KiB over pages 0x5000 and 0x6000.
            src.space.write(BAR0 + DMA_SRC, 8, DMA_BUFFER);
            src.space.write(BAR0 + DMA_DST, 8, 0x5800);
            src.space.write(BAR0 + DMA_COUNT, 8, DMA_BUFFER_SIZE);
            src.space.write(BAR0 + DMA_CMD, 8, DMA_CMD_RUN | DMA_CMD_TO_RAM);
            Fds.await("DMA edu -> RAM", () -> (src.space.read(BAR0 + DMA_CMD, 8) & DMA_CMD_RUN) == 0);
            log.collect((address, length) -> dirty.add(new long[] {address, length}));
            assertEquals(1, dirty.size());
            assertArrayEquals(new long[] {0x5000, 0x2000}, dirty.get(0), "one run of two pages");
            dirty.clear();
            log.collect((address, length) -> dirty.add(new long[] {address, length}));
            assertEquals(0, dirty.size(), "a report clears what it reported");
        } finally {
            log.stop();
            log.stop(); // idempotent
        }
    }
}
