package io.jvfio.vfio.passthrough;

import io.jvfio.vmm.testing.OnKvm;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.InterruptRouterConfig;
import io.jvfio.irq.VirtualInterruptController;
import io.jvfio.irq.ioapic.IoApic;
import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vfio.RegionCapability;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vfio.user.Fds;
import io.jvfio.vfio.inprocess.InProcessBackend;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vfio.emulated.EmulatedDevice;
import io.jvfio.vfio.emulated.ForwardingDevice;
import io.jvfio.vfio.user.server.VfioUserServer;
import io.jvfio.vfio.devices.GpioDevice;
import io.jvfio.vfio.devices.NoBarDevice;
import io.jvfio.vfio.devices.TinyDevice;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.kvm.Kvm;
import io.jvfio.kvm.KvmVm;
import io.jvfio.vmm.pci.PciBar;
import io.jvfio.vmm.pci.PciConfigSpace;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciHostBridge;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_FLAG_MMAP;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_IO;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MEMORY;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * BARs that are not edu's, through the passthrough model over each back end (vfio-user on a socket,
 * in-process): an I/O BAR whose port accesses are forwarded as region reads and writes, a memory
 * BAR smaller than a page (trapped, never a KVM memory slot, mmap-able or not), and a function with
 * no BAR at all. The devices are the Java test devices gpio, tiny and nobar.
 */
@ParameterizedClass(name = "over {0}")
@ValueSource(strings = {"vfio-user", "in-process"})
@OnKvm
class PassthroughBarKindsTest {

    @Parameter
    String transport;

    static final PciDevFn AT = new PciDevFn(4, 0);
    static final int DEVFN = AT.devfn();

    @TempDir
    Path dir;
    long fdsBefore;
    GuestMemory memory;
    VfioUserServer server;
    VfioBackend backend;
    VfioUserClient client;
    AddressSpace space;
    PciHostBridge bridge;
    VirtualInterruptController apics;
    IoApic ioapic;
    InterruptRouter router;
    PassthroughDevice device;

    /** {@code served} behind the model, over this run's transport, at 00:04.0. */
    void attach(EmulatedDevice served) throws Exception {
        fdsBefore = Fds.open();
        memory = new GuestMemory();
        memory.addRegion("ram", 0, MemoryBackend.memfd("ram", 16 << 20, false));
        if (transport.equals("vfio-user")) {
            Path socket = dir.resolve("dev.sock");
            server = VfioUserServer.start(socket, served);
            client = VfioUserClient.connect(socket, 5000, memory);
            backend = client;
        } else {
            backend = InProcessBackend.attach("in-process " + served, served, memory);
        }
        space = new AddressSpace();
        bridge = new PciHostBridge(space, PciHostBridge.DEFAULT_ECAM_BASE);
        apics = new VirtualInterruptController(1);
        ioapic = new IoApic(apics);
        router = new InterruptRouter(apics, InterruptRouterConfig.DEFAULT, null, ioapic);
        device = new PassthroughDevice(served + " " + transport, backend, PassthroughOptions.DEFAULT, space, router);
        bridge.add(AT, false, device, "vfio-user-pci");
    }

    @AfterEach
    void stop() throws Exception {
        if (device != null) {
            device.close();
            router.close();
            backend.close();
            memory.close();
        }
        if (server != null) {
            server.close();
        }
        if (device != null) {
            Fds.awaitBackTo(fdsBefore);
        }
    }

    int cfgRead(int offset, int size) {
        return bridge.configRead(DEVFN, offset, size);
    }

    void cfgWrite(int offset, int size, int value) {
        bridge.configWrite(DEVFN, offset, size, value);
    }

    long regionAccesses() {
        return client != null ? client.regionRequests() : ((InProcessBackend) backend).regionAccesses();
    }

    @Test
    void anIoBarsPortAccessesAreForwardedToTheRegion() throws Exception {
        try (GpioDevice gpio = new GpioDevice()) {
            attach(gpio);
            assertEquals(List.of(new PciBar(0, PciConfigSpace.BarType.IO, 16, false)), device.bars());
            cfgWrite(0x10, 4, -1);
            assertEquals(0xFFFFFFF1, cfgRead(0x10, 4), "16 ports, I/O space");
            cfgWrite(0x10, 4, 0xC000);
            cfgWrite(0x04, 2, PCI_COMMAND_MEMORY);
            assertEquals(-1, bridge.mappedAddress(AT, 0), "memory decode does not decode an I/O BAR");
            assertEquals(0xFFFFFFFFL, space.in(0xC000, 4));
            cfgWrite(0x04, 2, PCI_COMMAND_IO);
            assertEquals(0xC000, bridge.mappedAddress(AT, 0));
            long before = regionAccesses();
            assertEquals(GpioDevice.ID_VALUE, space.in(0xC000 + GpioDevice.ID, 4));
            space.out(0xC000 + GpioDevice.DATA, 4, 0x5a5a_1234L);
            assertEquals(0x5a5a_1234L, space.in(0xC000 + GpioDevice.DATA, 4));
            assertEquals(before + 3, regionAccesses(), "each port access one region access (REGION_READ/WRITE)");
            assertEquals(0, space.directRegions().length, "an I/O BAR is never mapped");
            assertEquals(null, space.mmio().find(0xC000), "nor on the MMIO bus");
            // The device sees the command register's I/O enable, as a real one would.
            assertEquals(PCI_COMMAND_IO, backend.read(io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX,
                    0x04, 2) & 0x7);
            cfgWrite(0x04, 2, 0);
            assertEquals(0xFFFFFFFFL, space.in(0xC000, 4), "I/O decode off: gone");
        }
    }

    /**
     * gpio's raise register asserts INTx: the trigger eventfd reaches the IOAPIC pin the machine wired
     * the line to, and that pin's redirection entry; its status register and config status bit 3 say so until cleared.
     * (Resampling at EOI and the mask are INTx's own tests.)
     */
    @Test
    void gpiosRaiseRegisterAssertsIntx() throws Exception {
        try (GpioDevice gpio = new GpioDevice()) {
            attach(gpio);
            java.util.concurrent.atomic.AtomicInteger seen = new java.util.concurrent.atomic.AtomicInteger();
            apics.apic(0).addListener((apic, vector) -> {
                if (vector == 0x42) {
                    seen.incrementAndGet();
                }
            });
            device.wireIntx(17);
            ioapic.write(0x00, 4, 0x10 + 2 * 17);
            ioapic.write(0x10, 4, 0x8000 | 0x42); // the pin's entry: level-triggered, vector 0x42, APIC 0
            assertEquals(1, cfgRead(0x3d, 1), "INTA");
            cfgWrite(0x10, 4, 0xC000);
            cfgWrite(0x04, 2, PCI_COMMAND_IO);
            assertEquals(0, space.in(0xC000 + GpioDevice.IRQ_STATUS, 4));
            assertEquals(0, cfgRead(0x06, 2) & 0x08, "no interrupt pending");
            space.out(0xC000 + GpioDevice.IRQ_RAISE, 4, 1);
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (seen.get() == 0) {
                assertTrue(System.nanoTime() < deadline, "INTx never reached the local APIC");
                Thread.onSpinWait();
            }
            assertEquals(GpioDevice.IRQ_PENDING, space.in(0xC000 + GpioDevice.IRQ_STATUS, 4));
            assertEquals(0x08, cfgRead(0x06, 2) & 0x08, "interrupt status, PCI 3.0 6.2.3");
            space.out(0xC000 + GpioDevice.IRQ_STATUS, 4, GpioDevice.IRQ_PENDING);
            assertEquals(0, space.in(0xC000 + GpioDevice.IRQ_STATUS, 4), "cleared by writing 1");
            assertEquals(0, cfgRead(0x06, 2) & 0x08);
            assertEquals(1, seen.get());
        }
    }

    @Test
    void aMemoryBarUnderAPageIsTrapped() throws Exception {
        try (TinyDevice tiny = new TinyDevice()) {
            attach(tiny);
            cfgWrite(0x10, 4, -1);
            assertEquals(0xFFFFFF00, cfgRead(0x10, 4), "256 bytes, 32-bit memory");
            cfgWrite(0x10, 4, 0xfe00_0000);
            cfgWrite(0x04, 2, PCI_COMMAND_MEMORY);
            long before = regionAccesses();
            assertEquals(TinyDevice.ID_VALUE, space.read(0xfe00_0000L, 4));
            space.write(0xfe00_0004L, 4, 0xcafe);
            assertEquals(0xcafe, space.read(0xfe00_0004L, 4));
            assertEquals(before + 3, regionAccesses());
            assertTrue(PassthroughDevice.underAPage(device.bars().get(0)));
        }
    }

    /**
     * A sub-page BAR the device offers for mmap, placed page-aligned by the guest (where QEMU would map
     * a whole host page): still trapped, and a KVM VM listening to the address space gets no memory
     * slot, where a 256-byte one would fail with EINVAL. Needs /dev/kvm.
     */
    @Test
    void anMmapableBarUnderAPageGetsNoKvmMemorySlot() throws Exception {
        io.jvfio.vmm.testing.Prerequisites.requireKvm();
        try (TinyDevice tiny = new TinyDevice(); MemoryBackend bar = MemoryBackend.memfd("tiny-bar0", 4096, false);
             Kvm kvm = Kvm.open(); KvmVm vm = KvmVm.create(kvm)) {
            attach(new MmapableBar0(tiny, bar));
            space.addListener(vm);
            assertTrue(backend.region(0).mmappable(), "offered for mmap");
            int slots = vm.memorySlots();
            cfgWrite(0x10, 4, 0xfe00_0000);
            cfgWrite(0x04, 2, PCI_COMMAND_MEMORY);
            assertEquals(0xfe00_0000L, bridge.mappedAddress(AT, 0), "it decodes");
            assertEquals(List.of(), device.directRegions(), "trapped");
            assertEquals(slots, vm.memorySlots(), "no memory slot smaller than a page");
            assertEquals(TinyDevice.ID_VALUE, space.read(0xfe00_0000L, 4), "through the region");
            cfgWrite(0x04, 2, 0);
            space.removeListener(vm);
        }
    }

    @Test
    void aFunctionWithNoBarHasNothingToPlace() throws Exception {
        try (NoBarDevice nobar = new NoBarDevice()) {
            attach(nobar);
            assertEquals(List.of(), device.bars());
            for (int bar = 0; bar < 6; bar++) {
                cfgWrite(0x10 + 4 * bar, 4, -1);
                assertEquals(0, cfgRead(0x10 + 4 * bar, 4), "BAR" + bar + " is not implemented");
            }
            cfgWrite(0x04, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | 0x4);
            assertEquals(0x7, cfgRead(0x04, 2) & 0x7);
            assertEquals(0, cfgRead(0x3d, 1), "no interrupt pin");
            assertEquals(0x10f21234, cfgRead(0, 4));
            assertEquals(List.of(), device.routes());
        }
    }

    @Test
    void wholePagesOfAnAreaAreTheOnlyPartsMapped() {
        long page = 4096;
        assertArrayEquals(new long[] {0, 0x2000}, BarWindows.wholePages(0xfe00_0000L, new long[] {0, 0x2000}, 0,
                page));
        assertEquals(null, BarWindows.wholePages(0xfe00_0000L, new long[] {0, 256}, 0, page), "under a page");
        assertEquals(null, BarWindows.wholePages(0xfe00_0100L, new long[] {0, 256}, 0, page),
                "under a page, not page-aligned in the guest");
        assertArrayEquals(new long[] {0x1000, 0x3000}, BarWindows.wholePages(0xfe00_0000L,
                new long[] {0x800, 0x3800}, 0, page), "a sparse area's partial pages stay trapped");
    }

    /**
     * tiny with its BAR0 offered for mmap from a memfd, one area over the whole 256-byte region, the
     * way the kernel offers a sub-page BAR whose host page is its own (vfio_pci_probe_mmaps).
     */
    private static final class MmapableBar0 extends ForwardingDevice {
        private final MemoryBackend bar;

        MmapableBar0(TinyDevice tiny, MemoryBackend bar) {
            super(tiny);
            this.bar = bar;
        }

        @Override
        public List<Region> regions() {
            List<Region> rs = new ArrayList<>(super.regions());
            Region r = rs.get(0);
            rs.set(0, new Region(r.flags() | VFIO_REGION_INFO_FLAG_MMAP, r.size(), bar.fd(), 0,
                    List.of(new RegionCapability.SparseMmap(List.of(new RegionCapability.Area(0, r.size()))))));
            return rs;
        }

        @Override
        public String toString() {
            return "tiny with an mmap-able BAR0";
        }
    }
}
