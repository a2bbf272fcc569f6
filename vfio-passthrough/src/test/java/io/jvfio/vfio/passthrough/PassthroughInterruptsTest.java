package io.jvfio.vfio.passthrough;

import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.VirtualInterruptController;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vfio.user.Fds;
import io.jvfio.vfio.inprocess.InProcessBackend;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vfio.user.server.VfioUserServer;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.pci.PciConfigDump;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciHostBridge;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSIX_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSI_IRQ_INDEX;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MASTER;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MEMORY;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the model does with a device's vendor-specific capability, its MSI-X vectors and its
 * multiple-message MSI, against {@link CapabilityZooDevice} over each back end that can carry it here
 * (vfio-user on a socket, and in-process): interrupts go from the device's eventfds through
 * irq-routing to a virtual local APIC, which counts what arrives per vector. The SET_IRQS the device
 * received are read from a {@link RecordingBackend} between the model and the real back end.
 */
@ParameterizedClass(name = "over {0}")
@ValueSource(strings = {"vfio-user", "in-process"})
class PassthroughInterruptsTest {

    static final PciDevFn AT = new PciDevFn(4, 0);
    static final long BAR0 = 0xfe00_0000L;
    static final long TABLE = BAR0 + 0x2000;
    static final long PBA = BAR0 + 0x3000;

    @Parameter
    String transport;
    @TempDir
    Path dir;

    AddressSpace space;
    PciHostBridge bridge;
    VirtualInterruptController apics;
    InterruptRouter router;
    /** Interrupts accepted by the local APIC, per vector. */
    final AtomicIntegerArray arrivals = new AtomicIntegerArray(256);

    CapabilityZooDevice zoo;
    VfioUserServer server;
    VfioBackend real;
    RecordingBackend backend;
    PassthroughDevice device;
    int devfn;

    @BeforeEach
    void start() {
        space = new AddressSpace();
        bridge = new PciHostBridge(space, PciHostBridge.DEFAULT_ECAM_BASE);
        apics = new VirtualInterruptController(1);
        apics.apic(0).addListener((apic, vector) -> {
            if (vector >= 0) {
                arrivals.incrementAndGet(vector);
            }
        });
        router = new InterruptRouter(apics);
    }

    /** The zoo, its MSI-X IRQ info with or without VFIO_IRQ_INFO_NORESIZE, behind the model at 00:04.0. */
    void open(boolean msixNoResize) {
        zoo = new CapabilityZooDevice(msixNoResize);
        if (transport.equals("vfio-user")) {
            Path socket = dir.resolve("zoo.sock");
            server = VfioUserServer.start(socket, zoo);
            real = VfioUserClient.connect(socket, 5000, null);
        } else {
            real = InProcessBackend.attach("in-process zoo", zoo, null);
        }
        backend = new RecordingBackend(real);
        device = new PassthroughDevice("zoo " + transport, backend, PassthroughOptions.DEFAULT, space, router);
        devfn = bridge.add(AT, false, device, "vfio-user-pci").devfn();
    }

    @AfterEach
    void stop() {
        if (device != null) {
            device.close();
        }
        router.close();
        if (real != null) {
            real.close();
        }
        if (server != null) {
            server.close();
        }
    }

    int cfgRead(int offset, int size) {
        return bridge.configRead(devfn, offset, size);
    }

    void cfgWrite(int offset, int size, int value) {
        bridge.configWrite(devfn, offset, size, value);
    }

    void placeBar0() {
        cfgWrite(0x10, 4, (int) BAR0);
        cfgWrite(0x14, 4, 0);
        cfgWrite(0x04, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    }

    /** MSI-X table entry {@code v}: to APIC 0, vector {@code vector}, masked or not. */
    void entry(int v, int vector, boolean masked) {
        space.write(TABLE + 16L * v, 4, 0xFEE0_0000L);
        space.write(TABLE + 16L * v + 4, 4, 0);
        space.write(TABLE + 16L * v + 8, 4, vector);
        space.write(TABLE + 16L * v + 12, 4, masked ? 1 : 0);
    }

    void unmask(int v) {
        space.write(TABLE + 16L * v + 12, 4, 0);
    }

    /** The device raises MSI-X vector {@code v} and the APIC's count for {@code apicVector} reaches {@code n}. */
    void fireMsix(int v, int apicVector, int n) throws InterruptedException {
        space.write(BAR0 + CapabilityZooDevice.FIRE_MSIX, 4, v);
        Fds.await("MSI-X vector " + v + " as APIC vector 0x" + Integer.toHexString(apicVector) + " #" + n,
                () -> arrivals.get(apicVector) >= n);
    }

    void fireMsi(int v, int apicVector, int n) throws InterruptedException {
        space.write(BAR0 + CapabilityZooDevice.FIRE_MSI, 4, v);
        Fds.await("MSI vector " + v + " as APIC vector 0x" + Integer.toHexString(apicVector) + " #" + n,
                () -> arrivals.get(apicVector) >= n);
    }

    List<String> msixRequests() {
        return backend.irqRequests(VFIO_PCI_MSIX_IRQ_INDEX);
    }

    List<String> msiRequests() {
        return backend.irqRequests(VFIO_PCI_MSI_IRQ_INDEX);
    }

    InterruptRoute routeWithData(int data) {
        return device.routes().stream().filter(r -> r.message().data() == data).findFirst().orElseThrow();
    }

    // ---- vendor-specific capability ----

    @Test
    void theVendorSpecificCapabilityIsShownAndReadOnly() {
        open(false);
        int vndr = CapabilityZooDevice.VENDOR;
        String dump = PciConfigDump.verbose(bridge, AT);
        assertTrue(dump.contains("\tCapabilities: [48] Vendor Specific Information: Len=08 <?>\n"
                + "\tCapabilities: [50] Express (v2) Endpoint"), dump);
        assertEquals(vndr, cfgRead(CapabilityZooDevice.PM + 1, 1), "power management links to it");
        assertEquals(CapabilityZooDevice.VENDOR_BODY, Integer.toUnsignedLong(cfgRead(vndr + 4, 4)) << 8
                | cfgRead(vndr + 3, 1), "its body is the device's");
        long own = zoo.ownConfig(vndr, 4) | zoo.ownConfig(vndr + 4, 4) << 32;

        cfgWrite(vndr + 4, 4, 0xdead_beef);
        cfgWrite(vndr + 3, 1, 0x77);
        cfgWrite(vndr, 4, 0xFFFF_FFFF);
        cfgWrite(vndr + 2, 2, 0);
        assertEquals(own, zoo.ownConfig(vndr, 4) | zoo.ownConfig(vndr + 4, 4) << 32,
                "no guest write reached the device");
        assertEquals((int) (own >>> 32), cfgRead(vndr + 4, 4), "and the guest reads it unchanged");
        assertEquals(CapabilityZooDevice.VENDOR_LENGTH, cfgRead(vndr + 2, 1));
        assertEquals(CapabilityZooDevice.EXPRESS, cfgRead(vndr + 1, 1), "the link is the model's");

        // The device's body is writable from its own side, so a leaked write would have shown; and the
        // guest reads the device's bytes as they are now, not a copy taken at start.
        real.write(VFIO_PCI_CONFIG_REGION_INDEX, vndr + 4, 4, 0x1234_5678L);
        assertEquals(0x1234_5678, cfgRead(vndr + 4, 4));
    }

    // ---- MSI-X vectors on demand ----

    @Test
    void withoutNoresizeAVectorJoinsAloneWhenTheGuestUnmasksIt() throws Exception {
        open(false);
        placeBar0();
        for (int v = 0; v < 4; v++) {
            entry(v, 0x60 + v, true);
        }
        cfgWrite(zoo.msix + 2, 2, 0x8000);
        assertEquals(List.of("MSI-X 0+1 []"), msixRequests(),
                "MSI-X on in the device with no vector (vector 0 unassigned), as QEMU enables it");
        assertEquals(List.of(), device.routes());

        unmask(0);
        fireMsix(0, 0x60, 1);
        unmask(3);
        fireMsix(3, 0x63, 1);
        fireMsix(0, 0x60, 2);
        assertEquals(List.of("MSI-X 0+1 []", "MSI-X 0+1 [0]", "MSI-X 3+1 [3]"), msixRequests(),
                "vector 3 joined alone: vector 0 was never disabled or set again");
        assertEquals(2, device.routes().size(), "vectors 1 and 2, never unmasked, have no eventfd");
        assertEquals(2, routeWithData(0x60).stats().delivered());
        assertEquals(1, routeWithData(0x63).stats().delivered());
        if (server != null) {
            assertEquals(2, server.assignedEventfds(), "the server holds the two triggers");
        }

        // Masked again, a vector stays in use: its interrupt waits in the PBA, and unmasking delivers it.
        space.write(TABLE + 16L * 3 + 12, 4, 1);
        space.write(BAR0 + CapabilityZooDevice.FIRE_MSIX, 4, 3);
        Fds.await("PBA bit 3", () -> (space.read(PBA, 8) & 1 << 3) != 0);
        unmask(3);
        Fds.await("vector 3 after unmask", () -> arrivals.get(0x63) == 2);

        // Raised while masked and not yet in use, vector 2 waits in the device; when the guest unmasks it
        // and it joins, the device delivers it, as hardware delivers a pending vector once it is unmasked.
        space.write(BAR0 + CapabilityZooDevice.FIRE_MSIX, 4, 2);
        unmask(2);
        Fds.await("vector 2, raised before it had an eventfd", () -> arrivals.get(0x62) == 1);
        assertEquals("MSI-X 2+1 [2]", msixRequests().get(3));

        cfgWrite(zoo.msix + 2, 2, 0);
        assertEquals("MSI-X off", msixRequests().get(4));
        assertEquals(5, msixRequests().size());
    }

    @Test
    void withNoresizeTheIndexIsEnabledAgainWithTheLargerCount() throws Exception {
        open(true);
        placeBar0();
        for (int v = 0; v < 4; v++) {
            entry(v, 0x60 + v, true);
        }
        cfgWrite(zoo.msix + 2, 2, 0x8000);
        unmask(0);
        fireMsix(0, 0x60, 1);
        unmask(3);
        fireMsix(3, 0x63, 1);
        fireMsix(0, 0x60, 2);
        assertEquals(List.of("MSI-X 0+1 []", "MSI-X 0+1 [0]", "MSI-X off", "MSI-X 0+4 [0, 3]"), msixRequests(),
                "vector 0 fits in what is enabled; vector 3 does not, so all of 0..3 are set up again at once");
        assertEquals(2, device.routes().size());
        unmask(1);
        fireMsix(1, 0x61, 1);
        assertEquals("MSI-X 1+1 [1]", msixRequests().get(4), "inside the enabled count a vector joins alone");
    }

    @Test
    void vectorsUnmaskedUnderTheFunctionMaskJoinWhenItClears() throws Exception {
        open(false);
        placeBar0();
        cfgWrite(zoo.msix + 2, 2, 0xC000); // enable with the function masked, as Linux does
        entry(1, 0x51, false);
        entry(2, 0x52, false);
        assertEquals(List.of("MSI-X 0+1 []"), msixRequests(), "nothing joins while the function is masked");
        cfgWrite(zoo.msix + 2, 2, 0x8000);
        assertEquals(List.of("MSI-X 0+1 []", "MSI-X 1+1 [1]", "MSI-X 2+1 [2]"), msixRequests());
        fireMsix(1, 0x51, 1);
        fireMsix(2, 0x52, 1);
    }

    @Test
    void allUnmaskedAtEnableTakeOneRequest() throws Exception {
        open(false);
        placeBar0();
        for (int v = 0; v < 4; v++) {
            entry(v, 0x60 + v, false);
        }
        cfgWrite(zoo.msix + 2, 2, 0x8000);
        assertEquals(List.of("MSI-X 0+4 [0, 1, 2, 3]"), msixRequests());
        for (int v = 0; v < 4; v++) {
            fireMsix(v, 0x60 + v, 1);
        }
    }

    // ---- multiple-message MSI ----

    /** MSI to APIC 0 with data {@code data}, enabled with 2^{@code log2} of the device's 4 vectors. */
    void enableMsi(int data, int log2) {
        int cap = zoo.msi;
        cfgWrite(cap + 4, 4, 0xFEE0_0000);
        cfgWrite(cap + 8, 4, 0);
        cfgWrite(cap + 0xc, 2, data);
        cfgWrite(cap + 2, 2, cfgRead(cap + 2, 2) & ~0x70 | log2 << 4 | 1);
    }

    @Test
    void fourMessagesArriveEachWithItsOwnData() throws Exception {
        open(false);
        placeBar0();
        assertEquals(2 << 1, cfgRead(zoo.msi + 2, 2) & 0xE, "Multiple Message Capable: 4, the device's");
        enableMsi(0x70, 2);
        assertEquals(List.of("MSI 0+4 [0, 1, 2, 3]"), msiRequests(), "one SET_IRQS for the 4 enabled");
        for (int v = 0; v < 4; v++) {
            fireMsi(v, 0x70 + v, 1);
        }
        for (int v = 0; v < 4; v++) {
            assertEquals(1, routeWithData(0x70 + v).stats().delivered(), "vector " + v + " as data 0x7" + v);
            assertEquals(1, arrivals.get(0x70 + v));
        }
        assertEquals(0, zoo.ownConfig(zoo.msi + 4, 4), "the device's MSI address was never written");
        assertEquals(0, zoo.ownConfig(zoo.msi + 2, 2) & 0x71, "nor its enable and Multiple Message Enable");
        String dump = PciConfigDump.verbose(bridge, AT);
        assertTrue(dump.contains("MSI: Enable+ Count=4/4 Maskable+ 64bit+\n\t\tAddress: 00000000fee00000  Data: 0070\n"),
                dump);

        // Vector 2's mask bit holds its interrupt in the pending register; clearing it delivers it once.
        int mask = zoo.msi + 0x10;
        int pending = zoo.msi + 0x14;
        cfgWrite(mask, 4, 1 << 2);
        space.write(BAR0 + CapabilityZooDevice.FIRE_MSI, 4, 2);
        Fds.await("MSI pending bit 2", () -> cfgRead(pending, 4) == 1 << 2);
        assertEquals(1, arrivals.get(0x72));
        cfgWrite(mask, 4, 0);
        Fds.await("vector 2 after unmask", () -> arrivals.get(0x72) == 2);
        assertEquals(0, cfgRead(pending, 4));
        assertEquals(List.of("MSI 0+4 [0, 1, 2, 3]"), msiRequests(), "masking is the model's: no SET_IRQS");
    }

    @Test
    void twoOfFourMessagesEnabledReplaceTheDataLowBit() throws Exception {
        open(false);
        placeBar0();
        enableMsi(0x81, 1); // the low bit is the vector's, whatever the guest left in it
        assertEquals(List.of("MSI 0+2 [0, 1]"), msiRequests());
        assertEquals(2, device.routes().size());
        fireMsi(0, 0x80, 1);
        fireMsi(1, 0x81, 1);
        assertEquals(1, routeWithData(0x80).stats().delivered());
        assertEquals(1, routeWithData(0x81).stats().delivered());

        // Multiple Message Enable raised to 4 while on: the device's MSI is set up again with 4.
        cfgWrite(zoo.msi + 2, 2, cfgRead(zoo.msi + 2, 2) & ~0x70 | 2 << 4);
        assertEquals(List.of("MSI 0+2 [0, 1]", "MSI off", "MSI 0+4 [0, 1, 2, 3]"), msiRequests());
        fireMsi(3, 0x83, 1);
    }
}
