package io.jvfio.vfio.passthrough;

import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.InterruptRouterConfig;
import io.jvfio.irq.LocalApic;
import io.jvfio.irq.RouteKind;
import io.jvfio.irq.VirtualInterruptController;
import io.jvfio.irq.ioapic.IoApic;
import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vfio.user.Fds;
import io.jvfio.vfio.user.ServedEdu;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vfio.inprocess.InProcessBackend;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vfio.devices.EduDevice;
import io.jvfio.vfio.user.server.VfioUserServer;
import io.jvfio.vfio.devices.EduRegisters;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.pci.PciConfigDump;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciHostBridge;
import io.jvfio.vmm.pci.PciIntxRouting;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_INTX_DISABLE;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MASTER;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MEMORY;
import static io.jvfio.vmm.pci.PciRegs.PCI_INTERRUPT_LINE;
import static io.jvfio.vmm.pci.PciRegs.PCI_INTERRUPT_PIN;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The passthrough device model against the edu device written in Java, over each back end that can
 * carry it here (vfio-user on a socket, and in-process), driven as a guest drives it: configuration
 * cycles through ports 0xCF8/0xCFC, BARs sized and placed, MMIO through the address space,
 * interrupts to a virtual local APIC. What reaches the device is checked by reading its own
 * configuration space and registers behind the model.
 */
@ParameterizedClass(name = "over {0}")
@ValueSource(strings = {"vfio-user", "in-process"})
class PassthroughDeviceTest {

    @Parameter
    String transport;

    static final PciDevFn AT = new PciDevFn(4, 0);
    static final int DEVFN = AT.devfn();
    static final long BAR0 = 0xfe00_0000L;
    static final long BAR1 = 0xfe10_0000L;
    static final long BAR2 = 0x8_0000_0000L;

    @TempDir
    Path dir;
    ServedEdu served;
    EduDevice edu;
    GuestMemory memory;
    VfioBackend backend;
    /** The vfio-user client, or null in-process. */
    VfioUserClient client;
    AddressSpace space;
    PciHostBridge bridge;
    VirtualInterruptController apics;
    InterruptRouter router;
    PassthroughDevice device;

    @BeforeEach
    void start() throws Exception {
        served = new ServedEdu(dir);
        memory = new GuestMemory();
        memory.addRegion("ram", 0, MemoryBackend.memfd("ram", 16 << 20, false));
        if (transport.equals("vfio-user")) {
            edu = served.edu;
            client = VfioUserClient.connect(served.socket, 5000, memory);
            backend = client;
        } else {
            edu = new EduDevice();
            backend = InProcessBackend.attach("in-process edu", edu, memory);
        }
        space = new AddressSpace();
        bridge = new PciHostBridge(space, PciHostBridge.DEFAULT_ECAM_BASE);
        apics = new VirtualInterruptController(1);
        router = new InterruptRouter(apics);
        device = new PassthroughDevice("edu " + transport, backend, PassthroughOptions.DEFAULT, space, router);
        bridge.add(AT, false, device, "vfio-user-pci");
    }

    @AfterEach
    void stop() throws Exception {
        device.close();
        router.close();
        backend.close();
        memory.close();
        if (edu != served.edu) {
            edu.close();
        }
        served.close(); // and the process holds no more fds than before
    }

    // ---- the guest's side ----

    int cfgRead(int offset, int size) {
        space.out(PciHostBridge.CONFIG_ADDRESS, 4, 0x8000_0000L | DEVFN << 8 | (offset & 0xFC));
        return (int) space.in(PciHostBridge.CONFIG_DATA + (offset & 3), size);
    }

    void cfgWrite(int offset, int size, long value) {
        space.out(PciHostBridge.CONFIG_ADDRESS, 4, 0x8000_0000L | DEVFN << 8 | (offset & 0xFC));
        space.out(PciHostBridge.CONFIG_DATA + (offset & 3), size, value);
    }

    /** What the device itself holds in its config space, behind the overlay. */
    long deviceConfig(int offset, int size) {
        return backend.read(VFIO_PCI_CONFIG_REGION_INDEX, offset, size);
    }

    /** Region accesses the back end made of the device: REGION_READ/WRITE messages, or in-process calls. */
    long regionAccesses() {
        return client != null ? client.regionRequests() : ((InProcessBackend) backend).regionAccesses();
    }

    /** A driver's bring-up: BARs placed, memory decode and bus mastering on. */
    void placeBars() {
        cfgWrite(0x10, 4, BAR0);
        cfgWrite(0x14, 4, BAR1);
        cfgWrite(0x18, 4, BAR2 & 0xFFFF_FFFFL);
        cfgWrite(0x1c, 4, BAR2 >>> 32);
        cfgWrite(0x04, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    }

    @Test
    void theGuestSeesVirtualizedBarsMsiAndMsix() {
        assertEquals("""
                00:04.0 Unclassified device [00ff]: Device [1234:11e8] (rev 10)
                \tSubsystem: Device [1af4:1100]
                \tControl: I/O- Mem- BusMaster- ParErr- SERR- DisINTx-
                \tStatus: Cap+ DEVSEL=fast >TAbort- <TAbort- <MAbort- >SERR- <PERR- INTx-
                \tInterrupt: pin A routed to IRQ 0
                \tRegion 0: Memory at <unassigned> (32-bit, non-prefetchable) [size=1M]
                \tRegion 1: Memory at <unassigned> (32-bit, non-prefetchable) [size=4K]
                \tRegion 2: Memory at <unassigned> (64-bit, prefetchable) [size=1M]
                \tCapabilities: [40] MSI: Enable- Count=1/1 Maskable- 64bit+
                \t\tAddress: 0000000000000000  Data: 0000
                \tCapabilities: [50] MSI-X: Enable- Count=8 Masked-
                \t\tVector table: BAR=1 offset=00000000
                \t\tPBA: BAR=1 offset=00000800
                """, PciConfigDump.verbose(bridge, AT));
        placeBars();
        cfgWrite(0x3c, 1, 11);
        String dump = PciConfigDump.verbose(bridge, AT);
        assertTrue(dump.contains("\tControl: I/O- Mem+ BusMaster+ ParErr- SERR- DisINTx-\n"), dump);
        assertTrue(dump.contains("\tInterrupt: pin A routed to IRQ 11\n"), dump);
        assertTrue(dump.contains("\tRegion 0: Memory at fe000000 (32-bit, non-prefetchable) [size=1M]\n"
                + "\tRegion 1: Memory at fe100000 (32-bit, non-prefetchable) [size=4K]\n"
                + "\tRegion 2: Memory at 800000000 (64-bit, prefetchable) [size=1M]\n"), dump);
        assertEquals(0, deviceConfig(0x3c, 1), "the interrupt line is the model's");
    }

    @Test
    void sizingReturnsTheMasksAndNothingWrittenToABarReachesTheDevice() {
        long[] before = {deviceConfig(0x10, 4), deviceConfig(0x14, 4), deviceConfig(0x18, 4), deviceConfig(0x1c, 4),
                deviceConfig(0x30, 4)};
        for (int bar = 0x10; bar <= 0x24; bar += 4) {
            cfgWrite(bar, 4, 0xFFFF_FFFFL);
        }
        cfgWrite(0x30, 4, 0xFFFF_F800L);
        assertEquals(0xFFF00000, cfgRead(0x10, 4), "BAR0: 1 MiB, 32-bit");
        assertEquals(0xFFFFF000, cfgRead(0x14, 4), "BAR1: 4 KiB");
        assertEquals(0xFFF0000C, cfgRead(0x18, 4), "BAR2: 1 MiB, 64-bit, prefetchable");
        assertEquals(0xFFFFFFFF, cfgRead(0x1c, 4), "its upper half");
        assertEquals(0, cfgRead(0x20, 4), "BAR4: none");
        assertEquals(0, cfgRead(0x24, 4));
        assertEquals(0, cfgRead(0x30, 4), "no ROM");
        placeBars();
        long[] after = {deviceConfig(0x10, 4), deviceConfig(0x14, 4), deviceConfig(0x18, 4), deviceConfig(0x1c, 4),
                deviceConfig(0x30, 4)};
        assertArrayEquals(before, after, "the device's own BAR registers never saw the guest's values");
        assertEquals(PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, deviceConfig(0x04, 2) & 0x7,
                "memory and bus-master enables do reach it");
    }

    @Test
    void barsAppearWhereTheGuestPutsThemMappedOrTrapped() throws Exception {
        assertEquals(0xFFFFFFFFL, space.read(BAR0, 4), "nothing decodes before the driver places the BARs");
        placeBars();
        assertEquals(EduRegisters.ID_VALUE, space.read(BAR0 + EduRegisters.ID, 4), "BAR0: trapped, REGION_READ");
        space.write(BAR0 + EduRegisters.LIVENESS, 4, 0x1234);
        assertEquals(~0x1234 & 0xFFFFFFFFL, space.read(BAR0 + EduRegisters.LIVENESS, 4));
        // BAR2 is the device's memfd, mapped straight in: no request reaches the server.
        assertNotNull(space.findDirect(BAR2, 8));
        long requests = regionAccesses();
        space.write(BAR2 + 0x100, 8, 0x0123_4567_89ab_cdefL);
        assertEquals(0x0123_4567_89ab_cdefL, space.read(BAR2 + 0x100, 8));
        assertEquals(requests, regionAccesses(), "a mapped BAR costs no access to the device");
        assertEquals(0x0123_4567_89ab_cdefL, edu.bar2().getLong(0x100), "the device sees the guest's store");
        // Moved: it follows; decode off: it is gone.
        cfgWrite(0x1c, 4, 0x9);
        assertNull(space.findDirect(BAR2, 8));
        assertEquals(0x0123_4567_89ab_cdefL, space.read(0x9_0000_0000L + 0x100, 8));
        cfgWrite(0x04, 2, 0);
        assertEquals(List.of(), device.directRegions());
        assertEquals(0xFFFFFFFFL, space.read(BAR0, 4));
    }

    /**
     * INTx end to end without KVM: the model wired to GSI 17 reports it in the interrupt line register,
     * the device's assertion reaches the emulated IOAPIC's pin, the guest's EOI resamples the line and
     * unmasks the device's INTx (over vfio-user: the unmask eventfd the server watches), and a device
     * still asserting at that moment is delivered again.
     */
    @Test
    void intxReachesItsIoapicPinAndTheEoiReArmsIt() throws Exception {
        device.close(); // its INTx is the one under test, on a router with an IOAPIC
        IoApic ioapic = new IoApic(apics);
        try (InterruptRouter lines = new InterruptRouter(apics, InterruptRouterConfig.DEFAULT, null, ioapic);
             PassthroughDevice d = new PassthroughDevice("intx", backend, PassthroughOptions.DEFAULT, space, lines)) {
            PciDevFn at = new PciDevFn(7, 0);
            bridge.add(at, false, d, "vfio-user-pci");
            int pin = d.readConfig(PCI_INTERRUPT_PIN, 1);
            assertEquals(1, pin, "edu has INTA#");
            d.wireIntx(PciIntxRouting.gsi(at.slot(), pin));
            assertEquals(19, d.intxGsi(), "slot 7's INTA# swizzles to GSI 16 + (7 + 0) % 4");
            assertEquals(19, d.readConfig(PCI_INTERRUPT_LINE, 1), "the interrupt line says so, as a BIOS writes it");
            ioapic.write(0x00, 4, 0x10 + 2 * 19);
            ioapic.write(0x10, 4, 0x8000 | 0x62); // level, vector 0x62, APIC 0
            int devfn = at.devfn();
            bridge.configWrite(devfn, 0x10, 4, 0xd000_0000);
            bridge.configWrite(devfn, 0x04, 2, PCI_COMMAND_MEMORY);
            LocalApic apic = apics.apic(0);
            for (int i = 0; i < 5; i++) {
                space.write(0xd000_0000L + EduRegisters.IRQ_RAISE, 4, 1);
                Fds.await("INTx " + i + " at the local APIC", () -> apic.isPending(0x62));
                assertEquals(0x62, apic.acknowledge());
                space.write(0xd000_0000L + EduRegisters.IRQ_ACK, 4, 1); // the handler acknowledges the device
                apic.endOfInterrupt();
                Fds.await("the line resampled", () -> !ioapic.asserted(19));
            }
            // Still asserted at the EOI: VFIO (the server) signals again once unmasked, and the pin delivers again.
            space.write(0xd000_0000L + EduRegisters.IRQ_RAISE, 4, 1);
            Fds.await("asserted", () -> apic.isPending(0x62));
            assertEquals(0x62, apic.acknowledge());
            apic.endOfInterrupt();
            Fds.await("delivered again while the device asserts", () -> apic.isPending(0x62));
            assertEquals(0x62, apic.acknowledge());
            space.write(0xd000_0000L + EduRegisters.IRQ_ACK, 4, 1);
            apic.endOfInterrupt();
            Fds.await("deasserted", () -> !ioapic.asserted(19));
            assertEquals(7, ioapic.delivered(), "5 interrupts, then one delivered twice");
            d.reset();
            assertEquals(19, d.readConfig(PCI_INTERRUPT_LINE, 1), "a reset keeps the BIOS's routing");
        }
    }

    @Test
    void xNoMmapTrapsEveryAccess() throws Exception {
        PassthroughDevice trapped = new PassthroughDevice("trapped", backend, PassthroughOptions.DEFAULT.withNoMmap(true),
                space, router);
        try {
            bridge.add(new PciDevFn(5, 0), false, trapped, "vfio-user-pci");
            int devfn = new PciDevFn(5, 0).devfn();
            bridge.configWrite(devfn, 0x18, 4, 0xd000_0000);
            bridge.configWrite(devfn, 0x1c, 4, 0);
            bridge.configWrite(devfn, 0x04, 2, PCI_COMMAND_MEMORY);
            assertNull(space.findDirect(0xd000_0000L, 8));
            long requests = regionAccesses();
            space.write(0xd000_0008L, 4, 0x55aa);
            assertEquals(0x55aa, space.read(0xd000_0008L, 4));
            assertEquals(requests + 2, regionAccesses(), "one write, one read (REGION_WRITE and REGION_READ over vfio-user)");
            assertEquals(0x55aa, edu.bar2().getInt(8));
        } finally {
            trapped.close();
        }
    }

    @Test
    void msiComesFromTheOverlayAndNeverReachesTheDevice() throws Exception {
        placeBars();
        cfgWrite(0x44, 4, 0xFEE0_0000L); // address, APIC 0
        cfgWrite(0x48, 4, 0);
        cfgWrite(0x4c, 2, 0x0041); // vector 0x41, fixed
        cfgWrite(0x42, 2, 0x0001); // enable
        assertEquals(0, deviceConfig(0x44, 4), "the device's MSI address is untouched");
        assertEquals(0, deviceConfig(0x42, 2) & 1, "and its enable bit");
        assertEquals(1, device.routes().size());
        space.write(BAR0 + EduRegisters.IRQ_RAISE, 4, 0x5);
        Fds.await("MSI vector 0x41", () -> apics.apic(0).isPending(0x41));
        space.write(BAR0 + EduRegisters.IRQ_ACK, 4, 0x5);
        // While MSI is on, INTx-disable is the model's: the guest's write does not reach the device.
        long deviceCommand = deviceConfig(0x04, 2);
        cfgWrite(0x04, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
        assertEquals(PCI_COMMAND_INTX_DISABLE, cfgRead(0x04, 2) & PCI_COMMAND_INTX_DISABLE);
        assertEquals(deviceCommand & PCI_COMMAND_INTX_DISABLE, deviceConfig(0x04, 2) & PCI_COMMAND_INTX_DISABLE);
        cfgWrite(0x42, 2, 0);
        assertEquals(RouteKind.INTX, device.routes().get(0).kind(), "MSI off: INTx is back");
    }

    @Test
    void configReadsWithoutTheLockSeeOnlyWhatWasWrittenWhileAnotherThreadWrites() throws Exception {
        // A config read takes no lock unless a change overlapped it (PassthroughDevice.readConfig); a
        // torn or half-made value would show here as one nobody wrote. The writer moves BAR2 (its
        // window is taken down and put up) and flips the MSI-X function mask, as PassthroughTwoVcpuTest's
        // second vCPU does on KVM.
        placeBars();
        long a = 0xC000_0000L;
        long b = 0xC020_0000L;
        device.writeConfig(0x1c, 4, 0);
        java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.atomic.AtomicReference<String> wrong = new java.util.concurrent.atomic.AtomicReference<>();
        java.util.concurrent.atomic.AtomicLong reads = new java.util.concurrent.atomic.AtomicLong();
        Thread reader = new Thread(() -> {
            while (!done.get() && wrong.get() == null) {
                int bar2 = device.readConfig(0x18, 4);
                int control = device.readConfig(0x52, 2);
                int id = device.readConfig(0x00, 4);
                if ((bar2 != (int) (a | 0xC) && bar2 != (int) (b | 0xC)) || (control != 0x8007 && control != 0xC007)
                        || id != 0x11e8_1234) {
                    wrong.set(String.format("BAR2 0x%x, MSI-X control 0x%x, ID 0x%x", bar2, control, id));
                }
                reads.incrementAndGet();
            }
        }, "config reader");
        device.writeConfig(0x18, 4, (int) a);
        device.writeConfig(0x52, 2, 0x8000);
        reader.start();
        try {
            // At least 400 rounds, and on until the reader has read 2000 times, so the two overlap
            // (bounded: a reader that stops reading fails the test rather than hanging it).
            long deadline = System.nanoTime() + 30_000_000_000L;
            for (int i = 0; (i < 400 || reads.get() < 2000) && wrong.get() == null && System.nanoTime() < deadline; i++) {
                device.writeConfig(0x18, 4, (int) (i % 2 == 0 ? b : a));
                device.writeConfig(0x52, 2, i % 2 == 0 ? 0xC000 : 0x8000);
            }
        } finally {
            done.set(true);
            reader.join(10_000);
        }
        assertNull(wrong.get(), "a read saw a value nobody wrote");
        assertTrue(reads.get() >= 2000, reads.get() + " reads");
        int last = device.readConfig(0x18, 4);
        assertTrue(last == (int) (a | 0xC) || last == (int) (b | 0xC));
    }

    @Test
    void msixTableAndPbaAreEmulatedAndMaskingHoldsInterruptsPending() throws Exception {
        placeBars();
        for (int v = 0; v < 8; v++) {
            space.write(BAR1 + 16L * v, 4, 0xFEE0_0000L);
            space.write(BAR1 + 16L * v + 4, 4, 0);
            space.write(BAR1 + 16L * v + 8, 4, 0x50 + v);
            space.write(BAR1 + 16L * v + 12, 4, 0); // unmasked
        }
        cfgWrite(0x52, 2, 0x8000); // MSI-X enable
        assertEquals(8, device.routes().size());
        for (int v = 0; v < 8; v++) {
            space.write(BAR0 + EduRegisters.MSIX_FIRE, 4, v);
            int vector = 0x50 + v;
            Fds.await("MSI-X vector " + v, () -> apics.apic(0).isPending(vector));
        }
        // The device's own table never saw the guest's messages (its vector 0 is still masked, address 0).
        assertEquals(0, backend.read(1, 0, 4));
        assertEquals(1, backend.read(1, 12, 4));
        // A masked vector: the interrupt waits in the PBA and is delivered once on unmask.
        InterruptRoute r3 = device.routes().get(3);
        space.write(BAR1 + 16 * 3 + 12, 4, 1);
        long delivered = r3.stats().delivered();
        space.write(BAR0 + EduRegisters.MSIX_FIRE, 4, 3);
        Fds.await("PBA bit 3", () -> (space.read(BAR1 + 0x800, 8) & 1 << 3) != 0);
        assertEquals(delivered, r3.stats().delivered());
        space.write(BAR1 + 16 * 3 + 12, 4, 0);
        Fds.await("vector 3 after unmask", () -> r3.stats().delivered() == delivered + 1);
        assertEquals(0, space.read(BAR1 + 0x800, 8));
        // The function mask holds every vector.
        InterruptRoute r5 = device.routes().get(5);
        cfgWrite(0x52, 2, 0xC000);
        long d5 = r5.stats().delivered();
        space.write(BAR0 + EduRegisters.MSIX_FIRE, 4, 5);
        Fds.await("PBA bit 5", () -> (space.read(BAR1 + 0x800, 8) & 1 << 5) != 0);
        cfgWrite(0x52, 2, 0x8000);
        Fds.await("vector 5 after the function mask clears", () -> r5.stats().delivered() == d5 + 1);
        // Reprogrammed while enabled: the route follows the table.
        space.write(BAR1 + 16 * 6 + 8, 4, 0x77);
        assertEquals(0x77, device.routes().get(6).message().data());
        cfgWrite(0x52, 2, 0);
        assertEquals(1, device.routes().size(), "MSI-X off: INTx is back");
    }

    @Test
    void aGuestDriverRunsADmaRoundTripThroughTheModel() throws Exception {
        placeBars();
        byte[] pattern = new byte[1000];
        new Random(11).nextBytes(pattern);
        memory.ram().write(0x1000, pattern, 0, pattern.length);
        space.write(BAR0 + EduRegisters.DMA_SRC, 8, 0x1000);
        space.write(BAR0 + EduRegisters.DMA_DST, 8, EduRegisters.DMA_BUFFER);
        space.write(BAR0 + EduRegisters.DMA_COUNT, 8, pattern.length);
        space.write(BAR0 + EduRegisters.DMA_CMD, 8, EduRegisters.DMA_CMD_RUN);
        Fds.await("DMA in", () -> (space.read(BAR0 + EduRegisters.DMA_CMD, 8) & 1) == 0);
        space.write(BAR0 + EduRegisters.DMA_SRC, 8, EduRegisters.DMA_BUFFER);
        space.write(BAR0 + EduRegisters.DMA_DST, 8, 0x9000);
        space.write(BAR0 + EduRegisters.DMA_CMD, 8, EduRegisters.DMA_CMD_RUN | EduRegisters.DMA_CMD_TO_RAM);
        Fds.await("DMA out", () -> (space.read(BAR0 + EduRegisters.DMA_CMD, 8) & 1) == 0);
        byte[] back = new byte[pattern.length];
        memory.ram().read(0x9000, back, 0, back.length);
        assertArrayEquals(pattern, back);
    }

    @Test
    void overridesChangeWhatTheGuestSeesAndNotTheDevice() {
        PassthroughDevice renamed = new PassthroughDevice("renamed", backend, PassthroughOptions.DEFAULT.withIds(0x1af4,
                0x1041, 0x8086, 0x0001, 0x020000), space, router);
        try {
            bridge.add(new PciDevFn(6, 0), false, renamed, "vfio-user-pci");
            assertEquals("00:06.0 Ethernet controller [0200]: Device [1af4:1041] (rev 10)",
                    PciConfigDump.line(bridge, new PciDevFn(6, 0)));
            assertEquals(0x0001_8086, bridge.configRead(new PciDevFn(6, 0).devfn(), 0x2c, 4), "subsystem 8086:0001");
            assertEquals(0x11e81234L, deviceConfig(0, 4));
        } finally {
            renamed.close();
        }
    }

    @Test
    void resetUnmapsTurnsInterruptsOffAndResetsTheDevice() throws Exception {
        placeBars();
        space.write(BAR0 + EduRegisters.LIVENESS, 4, 7);
        cfgWrite(0x52, 2, 0x8000);
        bridge.reset();
        assertEquals(List.of(), device.directRegions());
        assertEquals(0xFFFFFFFFL, space.read(BAR0, 4));
        assertEquals(0, cfgRead(0x10, 4), "BARs back to unassigned");
        assertEquals(0, cfgRead(0x52, 2) & 0x8000, "MSI-X off");
        assertEquals(1, device.routes().size(), "INTx on");
        placeBars();
        assertEquals(0xFFFFFFFFL, space.read(BAR0 + EduRegisters.LIVENESS, 4), "the device was reset (~0)");
    }

    @Test
    void capabilitiesTheModelDoesNotSupportAreHidden() throws Exception {
        Path zooSocket = dir.resolve("zoo.sock");
        try (VfioUserServer zoo = VfioUserServer.start(zooSocket, new CapabilityZooDevice());
             VfioUserClient zooClient = VfioUserClient.connect(zooSocket, 5000, null);
             PassthroughDevice z = new PassthroughDevice("zoo", zooClient, PassthroughOptions.DEFAULT, space,
                     router)) {
            PciDevFn at = bridge.add(new PciDevFn(7, 0), false, z, "vfio-user-pci");
            String dump = PciConfigDump.verbose(bridge, at);
            assertTrue(dump.contains("""
                    \tCapabilities: [40] Power Management version 3
                    \t\tStatus: D0 PME-Enable-
                    \tCapabilities: [48] Vendor Specific Information: Len=08 <?>
                    \tCapabilities: [50] Express (v2) Endpoint, MSI 00
                    \tCapabilities: [8c] MSI: Enable- Count=1/4 Maskable+ 64bit+
                    \t\tAddress: 0000000000000000  Data: 0000
                    \t\tMasking: 00000000  Pending: 00000000
                    \tCapabilities: [a4] MSI-X: Enable- Count=4 Masked-
                    \t\tVector table: BAR=0 offset=00002000
                    \t\tPBA: BAR=0 offset=00003000
                    \tCapabilities: [140 v2] Advanced Error Reporting
                    \tCapabilities: [200 v1] Device Serial Number
                    """), dump);
            assertEquals(List.of("[100] extended capability 0x10", "[180] extended capability 0xe",
                    "[1c0] extended capability 0x15"), z.hiddenCapabilities());
            int devfn = at.devfn();
            assertEquals(0x14000000, bridge.configRead(devfn, 0x100, 4), "a null capability at 0x100 links to AER");
            assertEquals(0x40, zooClient.read(VFIO_PCI_CONFIG_REGION_INDEX, 0x34, 1), "the device's own list is intact");
        }
    }
}
