package io.jvfio.vfio.nested;

import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.InterruptRouterConfig;
import io.jvfio.irq.LocalApic;
import io.jvfio.irq.RouteKind;
import io.jvfio.irq.VirtualInterruptController;
import io.jvfio.irq.ioapic.IoApic;
import io.jvfio.vfio.kernel.VfioDevice;
import io.jvfio.vfio.VfioException;
import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vfio.passthrough.PassthroughDevice;
import io.jvfio.vfio.passthrough.PassthroughDevice;
import io.jvfio.vmm.device.AttachedDevices;
import io.jvfio.vfio.kernel.PciSysfs;
import io.jvfio.vmm.device.DeviceRegistry;
import io.jvfio.vmm.options.OptionString;
import io.jvfio.vfio.passthrough.PassthroughOptions;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.bus.Bus;
import io.jvfio.vmm.bus.DirectRegion;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.pci.PciConfigDump;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciHostBridge;
import io.jvfio.vmm.pci.PciIntxRouting;

import java.util.List;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSIX_IRQ_INDEX;

/**
 * The passthrough device model over the kernel's VFIO, inside the nested VM: edu and nvme behind a
 * host bridge, driven by configuration cycles and MMIO as a guest drives them. What reaches the
 * devices is checked against their config space as VFIO shows it, behind the model's overlay.
 */
final class ModelProbe {

    static final long EDU_BAR0 = 0xfe00_0000L;
    static final long NVME_BAR0 = 0xfd00_0000L;
    static final int SERIAL_PORT = 0xc100;
    static final long SDHCI_BAR0 = 0xfe10_0000L;
    /** The vector the guest gives pci-serial's INTx in its IOAPIC redirection entry. */
    static final int SERIAL_VECTOR = 0x51;

    private final NestedVfioProbe probe;
    private final VfioDevice edu;
    private final VfioDevice nvme;
    private final InterruptRouter router;
    private final VirtualInterruptController apics;
    private final AddressSpace space = new AddressSpace();
    private final PciHostBridge bridge = new PciHostBridge(space, PciHostBridge.DEFAULT_ECAM_BASE);

    ModelProbe(NestedVfioProbe probe, VfioDevice edu, VfioDevice nvme, InterruptRouter router,
               VirtualInterruptController apics) {
        this.probe = probe;
        this.edu = edu;
        this.nvme = nvme;
        this.router = router;
        this.apics = apics;
    }

    void run() {
        try (PassthroughDevice e = new PassthroughDevice("vfio-pci " + NestedVfioProbe.EDU, edu,
                PassthroughOptions.DEFAULT, space, router);
             PassthroughDevice n = new PassthroughDevice("vfio-pci " + NestedVfioProbe.NVME, nvme,
                     PassthroughOptions.DEFAULT, space, router)) {
            PciDevFn eduAt = bridge.add(new PciDevFn(4, 0), false, e, "vfio-pci");
            PciDevFn nvmeAt = bridge.add(new PciDevFn(5, 0), false, n, "vfio-pci");
            for (String line : PciConfigDump.list(bridge).split("\n")) {
                NestedVfioProbe.info("lspci " + line);
            }
            eduSteps(e, eduAt);
            nvmeSteps(n, nvmeAt);
            probe.step("model-reset", () -> {
                try {
                    bridge.reset();
                    probe.check("model-reset", false, "edu was reset, but it has no reset and cannot be bus-reset alone");
                } catch (VfioException ex) {
                    probe.error("model-reset", ex);
                    probe.check("model-reset", bridge.mappedAddress(eduAt, 0) == -1 && e.directRegions().isEmpty()
                            && n.directRegions().isEmpty(), "BARs unmapped; edu's reset refused with a clear error");
                }
            });
        }
    }

    private int cfg(PciDevFn at, int offset, int size) {
        return bridge.configRead(at.devfn(), offset, size);
    }

    private void cfgWrite(PciDevFn at, int offset, int size, int value) {
        bridge.configWrite(at.devfn(), offset, size, value);
    }

    private static void dump(String what, String dump) {
        for (String line : dump.split("\n")) {
            NestedVfioProbe.info(what + " " + line.replace('\t', ' '));
        }
    }

    private void eduSteps(PassthroughDevice e, PciDevFn at) {
        probe.step("model-edu-dump", () -> {
            String d = PciConfigDump.verbose(bridge, at);
            dump("edu", d);
            probe.check("model-edu-dump", d.contains("Device [1234:11e8]")
                    && d.contains("Region 0: Memory at <unassigned> (32-bit, non-prefetchable) [size=1M]")
                    && d.contains("MSI: Enable- Count=1/1"), "edu as the guest sees it: BAR0 unassigned, 1M; MSI");
        });
        probe.step("model-edu-sizing", () -> {
            long realBar0 = edu.read(VFIO_PCI_CONFIG_REGION_INDEX, 0x10, 4);
            cfgWrite(at, 0x10, 4, -1);
            int mask = cfg(at, 0x10, 4);
            cfgWrite(at, 0x10, 4, (int) EDU_BAR0);
            long realAfter = edu.read(VFIO_PCI_CONFIG_REGION_INDEX, 0x10, 4);
            probe.check("model-edu-sizing", mask == 0xFFF00000 && realAfter == realBar0, String.format(
                    "all-ones read back 0x%08x; the device's BAR0 (as VFIO shows it) 0x%08x before, 0x%08x after",
                    mask, realBar0, realAfter));
        });
        probe.step("model-edu-mmio", () -> {
            cfgWrite(at, 0x04, 2, 0x6); // memory, bus master
            long id = space.read(EDU_BAR0, 4);
            space.write(EDU_BAR0 + NestedVfioProbe.EDU_LIVENESS, 4, 0x5a5a);
            long live = space.read(EDU_BAR0 + NestedVfioProbe.EDU_LIVENESS, 4);
            boolean mapped = space.findDirect(EDU_BAR0, 4) != null;
            probe.check("model-edu-mmio", id == 0x010000edL && live == (~0x5a5a & 0xFFFFFFFFL) && mapped,
                    String.format("BAR0 at 0x%x, directly mapped (%s): id 0x%08x, liveness 0x%08x", EDU_BAR0,
                            e.directRegions(), id, live));
        });
        probe.step("model-edu-msi", () -> {
            int cap = capability(at, 0x05);
            long realAddress = edu.read(VFIO_PCI_CONFIG_REGION_INDEX, cap + 4, 4);
            cfgWrite(at, cap + 4, 4, 0xFEE0_0000);
            cfgWrite(at, cap + 8, 4, 0);
            boolean is64 = (cfg(at, cap + 2, 2) & 0x80) != 0;
            cfgWrite(at, cap + (is64 ? 0x0c : 0x08), 2, 0x0043);
            cfgWrite(at, cap + 2, 2, cfg(at, cap + 2, 2) | 1);
            space.write(EDU_BAR0 + NestedVfioProbe.EDU_IRQ_RAISE, 4, 0x9);
            boolean delivered = NestedVfioProbe.await(() -> apics.apic(0).isPending(0x43), 10_000);
            space.write(EDU_BAR0 + NestedVfioProbe.EDU_IRQ_ACK, 4, 0x9);
            long realAfter = edu.read(VFIO_PCI_CONFIG_REGION_INDEX, cap + 4, 4);
            List<InterruptRoute> routes = e.routes();
            cfgWrite(at, cap + 2, 2, cfg(at, cap + 2, 2) & ~1);
            probe.check("model-edu-msi", delivered && realAfter == realAddress && routes.size() == 1,
                    String.format("guest MSI 0xfee00000/0x43 -> vector 0x43 at the local APIC (%s); the device's MSI "
                            + "address register 0x%08x before, 0x%08x after", routes, realAddress, realAfter));
        });
    }

    private void nvmeSteps(PassthroughDevice n, PciDevFn at) {
        probe.step("model-nvme-dump", () -> {
            String d = PciConfigDump.verbose(bridge, at);
            dump("nvme", d);
            NestedVfioProbe.info("nvme hidden capabilities " + n.hiddenCapabilities());
            boolean sriovHidden = n.hiddenCapabilities().stream().anyMatch(c -> c.endsWith("extended capability 0x10"));
            boolean ariHidden = n.hiddenCapabilities().stream().anyMatch(c -> c.endsWith("extended capability 0xe"));
            probe.check("model-nvme-dump", d.contains("Device [1b36:0010]") && d.contains("MSI-X: Enable- Count=")
                    && d.contains("Express (v2)") && !d.contains("SR-IOV") && !d.contains("(ARI)")
                    && sriovHidden && ariHidden, "nvme as the guest sees it: MSI-X and PCI Express shown, SR-IOV and "
                    + "ARI hidden");
        });
        probe.step("model-nvme-sizing", () -> {
            long realLow = nvme.read(VFIO_PCI_CONFIG_REGION_INDEX, 0x10, 4);
            long realHigh = nvme.read(VFIO_PCI_CONFIG_REGION_INDEX, 0x14, 4);
            cfgWrite(at, 0x10, 4, -1);
            cfgWrite(at, 0x14, 4, -1);
            int low = cfg(at, 0x10, 4);
            int high = cfg(at, 0x14, 4);
            cfgWrite(at, 0x10, 4, 0);
            cfgWrite(at, 0x14, 4, 0);
            boolean untouched = nvme.read(VFIO_PCI_CONFIG_REGION_INDEX, 0x10, 4) == realLow
                    && nvme.read(VFIO_PCI_CONFIG_REGION_INDEX, 0x14, 4) == realHigh;
            probe.check("model-nvme-sizing", low == 0xFFFFC004 && high == -1 && untouched, String.format(
                    "64-bit BAR0 of 16 KiB sized as 0x%08x 0x%08x; the device's BAR0 (as VFIO shows it) unchanged",
                    high, low));
        });
        probe.step("model-nvme-msix", () -> {
            int cap = capability(at, 0x11);
            int table = cfg(at, cap + 4, 4);
            int pba = cfg(at, cap + 8, 4);
            int bar = table & 7;
            long tableAt = NVME_BAR0 + (table & ~7);
            long pbaAt = NVME_BAR0 + (pba & ~7);
            int barOffset = 0x10 + 4 * bar;
            cfgWrite(at, barOffset, 4, (int) NVME_BAR0);
            cfgWrite(at, barOffset + 4, 4, 0);
            cfgWrite(at, 0x04, 2, 0x6);
            for (int v = 0; v < 4; v++) {
                space.write(tableAt + 16L * v, 4, 0xFEE0_0000L);
                space.write(tableAt + 16L * v + 4, 4, 0);
                space.write(tableAt + 16L * v + 8, 4, 0x60 + v);
                space.write(tableAt + 16L * v + 12, 4, 0);
            }
            cfgWrite(at, cap + 2, 2, 0x8000);
            boolean all = true;
            for (int v = 0; v < 4; v++) {
                nvme.triggerIrq(VFIO_PCI_MSIX_IRQ_INDEX, v); // the kernel signals vector v's eventfd
                int vector = 0x60 + v;
                all &= NestedVfioProbe.await(() -> apics.apic(0).isPending(vector), 10_000);
            }
            space.write(tableAt + 16L * 2 + 12, 4, 1); // mask vector 2
            nvme.triggerIrq(VFIO_PCI_MSIX_IRQ_INDEX, 2);
            boolean pending = NestedVfioProbe.await(() -> (space.read(pbaAt, 8) & 1 << 2) != 0, 10_000);
            InterruptRoute r2 = n.routes().get(2);
            long before = r2.stats().delivered();
            space.write(tableAt + 16L * 2 + 12, 4, 0);
            boolean released = NestedVfioProbe.await(() -> r2.stats().delivered() == before + 1, 10_000)
                    && space.read(pbaAt, 8) == 0;
            boolean trapped = space.findDirect(tableAt, 4) == null && space.findDirect(pbaAt, 4) == null;
            cfgWrite(at, cap + 2, 2, 0);
            probe.check("model-nvme-msix", all && pending && released && trapped, String.format("4 vectors through "
                    + "table entries written by MMIO at 0x%x -> eventfds -> local APIC; a masked vector pending in the "
                    + "PBA at 0x%x and delivered once on unmask; table and PBA pages trapped, mapped: %s", tableAt,
                    pbaAt, n.directRegions()));
        });
        probe.step("model-nvme-msix-on-demand", () -> {
            int cap = capability(at, 0x11);
            int table = cfg(at, cap + 4, 4);
            long tableAt = NVME_BAR0 + (table & ~7);
            for (int v = 0; v < 4; v++) {
                space.write(tableAt + 16L * v, 4, 0xFEE0_0000L);
                space.write(tableAt + 16L * v + 4, 4, 0);
                space.write(tableAt + 16L * v + 8, 4, 0x68 + v);
                space.write(tableAt + 16L * v + 12, 4, 1); // masked: not in use yet
            }
            cfgWrite(at, cap + 2, 2, 0x8000); // MSI-X on in the device with no vector: SET_IRQS vector 0, fd -1
            boolean none = n.routes().isEmpty();
            space.write(tableAt + 12, 4, 0);
            nvme.triggerIrq(VFIO_PCI_MSIX_IRQ_INDEX, 0);
            boolean first = NestedVfioProbe.await(() -> apics.apic(0).isPending(0x68), 10_000);
            space.write(tableAt + 16L * 3 + 12, 4, 0); // past the vectors enabled
            nvme.triggerIrq(VFIO_PCI_MSIX_IRQ_INDEX, 3);
            boolean grown = NestedVfioProbe.await(() -> apics.apic(0).isPending(0x6b), 10_000);
            InterruptRoute r0 = n.routes().stream().filter(r -> r.message().data() == 0x68).findFirst().orElseThrow();
            long before = r0.stats().delivered();
            nvme.triggerIrq(VFIO_PCI_MSIX_IRQ_INDEX, 0);
            boolean again = NestedVfioProbe.await(() -> r0.stats().delivered() == before + 1, 10_000);
            int inUse = n.routes().size();
            boolean noResize = nvme.irq(VFIO_PCI_MSIX_IRQ_INDEX).noResize();
            cfgWrite(at, cap + 2, 2, 0);
            probe.check("model-nvme-msix-on-demand", none && first && grown && again && inUse == 2, String.format(
                    "MSI-X on with no vector in use; vectors 0 and 3 given eventfds as the guest unmasked them (%s), "
                    + "each delivered, vector 0 again after vector 3 joined; %d of the table's vectors in use",
                    noResize ? "the kernel says NORESIZE: the index enabled again with 4" : "dynamic MSI-X: vector 3 "
                    + "alone", inUse));
        });
    }

    /**
     * Devices that are not edu: QEMU's pci-serial (an 8-byte I/O BAR, INTx) and sdhci-pci (a 256-byte
     * memory BAR) behind the host bridge, reached by port I/O, MMIO and INTx as a guest reaches them
     * without KVM: INTx wired by the board's routing to an IOAPIC pin, the IOAPIC (emulated) in the
     * address space for the guest to program, and its own local APIC, so what other checks left
     * pending elsewhere is not in the way.
     */
    void portIoAndSubPage(VfioDevice serial, VfioDevice sdhci) {
        VirtualInterruptController controller = new VirtualInterruptController(1);
        IoApic ioapic = new IoApic(controller);
        Bus.Registration ioapicAt = space.mmio().add("IOAPIC", IoApic.BASE, IoApic.SIZE, ioapic);
        try (InterruptRouter r = new InterruptRouter(controller, InterruptRouterConfig.DEFAULT, null, ioapic);
             PassthroughDevice u = new PassthroughDevice("vfio-pci " + NestedVfioProbe.SERIAL, serial,
                     PassthroughOptions.DEFAULT, space, r);
             PassthroughDevice s = new PassthroughDevice("vfio-pci " + NestedVfioProbe.SDHCI, sdhci,
                     PassthroughOptions.DEFAULT, space, r)) {
            PciDevFn uartAt = bridge.add(new PciDevFn(8, 0), false, u, "vfio-pci");
            PciDevFn sdhciAt = bridge.add(new PciDevFn(9, 0), false, s, "vfio-pci");
            u.wireIntx(PciIntxRouting.gsi(uartAt.slot(), 1));
            s.wireIntx(PciIntxRouting.gsi(sdhciAt.slot(), 1));
            serialSteps(u, uartAt, serial, ioapic, controller.apic(0));
            sdhciSteps(s, sdhciAt, sdhci);
        } finally {
            space.mmio().remove(ioapicAt);
        }
    }

    private void serialSteps(PassthroughDevice u, PciDevFn at, VfioDevice serial, IoApic ioapic, LocalApic apic) {
        probe.step("model-serial-dump", () -> {
            String d = PciConfigDump.verbose(bridge, at);
            dump("serial", d);
            probe.check("model-serial-dump", d.contains("Device [1b36:0002]")
                    && d.contains("Region 0: I/O ports at <unassigned> [size=8]")
                    && d.contains("Interrupt: pin A routed to IRQ " + PciIntxRouting.gsi(at.slot(), 1))
                    && !d.contains("MSI"), "pci-serial as the guest sees it: an 8-byte I/O BAR, unassigned; pin A "
                    + "routed to IOAPIC pin " + PciIntxRouting.gsi(at.slot(), 1) + "; no MSI");
        });
        probe.step("model-serial-sizing", () -> {
            long real = serial.read(VFIO_PCI_CONFIG_REGION_INDEX, 0x10, 4);
            cfgWrite(at, 0x10, 4, -1);
            int mask = cfg(at, 0x10, 4);
            cfgWrite(at, 0x10, 4, SERIAL_PORT);
            int placed = cfg(at, 0x10, 4);
            cfgWrite(at, 0x04, 2, UartProbe.PCI_COMMAND_IO);
            Bus.Registration decoded = space.pio().find(SERIAL_PORT);
            long realAfter = serial.read(VFIO_PCI_CONFIG_REGION_INDEX, 0x10, 4);
            probe.check("model-serial-sizing", mask == 0xFFFFFFF9 && placed == (SERIAL_PORT | 1)
                    && bridge.mappedAddress(at, 0) == SERIAL_PORT && decoded != null && decoded.base() == SERIAL_PORT
                    && decoded.length() == 8 && space.mmio().find(SERIAL_PORT) == null && realAfter == real,
                    String.format("all-ones read back 0x%08x (8 bytes, I/O space); placed at port 0x%x, read back "
                            + "0x%08x; I/O decoding on: the I/O bus has %s; the device's BAR0 (as VFIO shows it) "
                            + "0x%08x before, 0x%08x after", mask, SERIAL_PORT, placed, decoded, real, realAfter));
        });
        probe.step("model-serial-pio", () -> {
            space.out(SERIAL_PORT + UartProbe.SCR, 1, 0xa5);
            long first = space.in(SERIAL_PORT + UartProbe.SCR, 1);
            space.out(SERIAL_PORT + UartProbe.SCR, 1, 0x5a);
            long second = space.in(SERIAL_PORT + UartProbe.SCR, 1);
            long lsr = space.in(SERIAL_PORT + UartProbe.LSR, 1);
            long viaVfio = serial.read(0, UartProbe.SCR, 1);
            probe.check("model-serial-pio", first == 0xa5 && second == 0x5a && viaVfio == 0x5a
                    && (lsr & (UartProbe.LSR_THRE | UartProbe.LSR_TEMT)) == (UartProbe.LSR_THRE | UartProbe.LSR_TEMT)
                    && u.directRegions().isEmpty(), String.format("out/in at port 0x%x: scratch register wrote 0xa5, "
                    + "0x5a, read 0x%02x, 0x%02x (the device, read through VFIO, holds 0x%02x); LSR 0x%02x; trapped, "
                    + "nothing mapped", SERIAL_PORT + UartProbe.SCR, first, second, viaVfio, lsr));
        });
        probe.step("model-serial-intx", () -> {
            int ier = SERIAL_PORT + UartProbe.IER;
            int iir = SERIAL_PORT + UartProbe.IIR;
            int gsi = cfg(at, 0x3c, 1); // where the guest's driver learns its line, as from a BIOS
            // The guest programs the line's redirection entry: fixed, level-triggered, to APIC 0.
            space.write(IoApic.BASE, 4, 0x11 + 2 * gsi);
            space.write(IoApic.BASE + 0x10, 4, 0);
            space.write(IoApic.BASE, 4, 0x10 + 2 * gsi);
            space.write(IoApic.BASE + 0x10, 4, 0x8000 | SERIAL_VECTOR);
            InterruptRoute route = u.routes().isEmpty() ? null : u.routes().get(0);
            space.out(ier, 1, 0);
            space.in(iir, 1);
            space.out(ier, 1, UartProbe.IER_THRI);
            boolean delivered = NestedVfioProbe.await(() -> apic.isPending(SERIAL_VECTOR), 10_000);
            boolean pinUp = ioapic.asserted(gsi);
            int taken = apic.acknowledge();
            long cause = space.in(iir, 1);
            long cleared = space.in(iir, 1);
            apic.endOfInterrupt(); // the UART's line is low: VFIO re-arms it and nothing follows
            boolean pinDown = NestedVfioProbe.await(() -> !ioapic.asserted(gsi), 10_000);

            space.out(ier, 1, 0);
            space.out(ier, 1, UartProbe.IER_THRI);
            boolean again = NestedVfioProbe.await(() -> apic.isPending(SERIAL_VECTOR), 10_000);
            int taken2 = apic.acknowledge();
            // EOI before the handler reads IIR: the line is still asserted, so the resample delivers it again.
            apic.endOfInterrupt();
            boolean resampled = NestedVfioProbe.await(() -> apic.isPending(SERIAL_VECTOR), 10_000);
            int taken3 = apic.acknowledge();
            long cause3 = space.in(iir, 1);
            apic.endOfInterrupt();
            space.out(ier, 1, 0);
            probe.check("model-serial-intx", route != null && route.kind() == RouteKind.INTX
                    && gsi == PciIntxRouting.gsi(at.slot(), 1) && delivered && pinUp && taken == SERIAL_VECTOR
                    && cause == UartProbe.IIR_THRI && cleared == UartProbe.IIR_NO_INT && pinDown && again
                    && taken2 == SERIAL_VECTOR && resampled && taken3 == SERIAL_VECTOR
                    && cause3 == UartProbe.IIR_THRI, String.format("IER=THRI by port I/O -> the UART's INTx -> VFIO "
                    + "eventfd -> irq-routing -> IOAPIC pin %d (interrupt line register), level-triggered -> vector "
                    + "0x%x at the local APIC (taken 0x%x); IIR 0x%02x then 0x%02x; the EOI lowered the pin and "
                    + "re-armed the line through VFIO's unmask eventfd: a second interrupt (0x%x); an EOI while the "
                    + "UART still asserted it delivered it again (0x%x, IIR 0x%02x): %s", gsi, SERIAL_VECTOR, taken,
                    cause, cleared, taken2, taken3, cause3, route == null ? "no route" : route.stats()));
        });
    }

    private void sdhciSteps(PassthroughDevice s, PciDevFn at, VfioDevice sdhci) {
        long page = Syscalls.pageSize();
        probe.step("model-sdhci-dump", () -> {
            String d = PciConfigDump.verbose(bridge, at);
            dump("sdhci", d);
            probe.check("model-sdhci-dump", d.contains("Device [1b36:0007]")
                    && d.contains("Region 0: Memory at <unassigned> (32-bit, non-prefetchable) [size=256]"),
                    "sdhci-pci as the guest sees it: a 256-byte memory BAR, unassigned");
        });
        probe.step("model-sdhci-sizing", () -> {
            long real = sdhci.read(VFIO_PCI_CONFIG_REGION_INDEX, 0x10, 4);
            cfgWrite(at, 0x10, 4, -1);
            int mask = cfg(at, 0x10, 4);
            cfgWrite(at, 0x10, 4, 0);
            long realAfter = sdhci.read(VFIO_PCI_CONFIG_REGION_INDEX, 0x10, 4);
            probe.check("model-sdhci-sizing", mask == 0xFFFFFF00 && realAfter == real, String.format("all-ones read "
                    + "back 0x%08x (256 bytes); the device's BAR0 (as VFIO shows it) 0x%08x before, 0x%08x after", mask,
                    real, realAfter));
        });
        for (long base : new long[] {SDHCI_BAR0, SDHCI_BAR0 + 0x100}) {
            String name = base % page == 0 ? "model-sdhci-mmio" : "model-sdhci-mmio-unaligned";
            probe.step(name, () -> {
                cfgWrite(at, 0x04, 2, 0);
                cfgWrite(at, 0x10, 4, (int) base);
                cfgWrite(at, 0x04, 2, 0x2);
                long caps = space.read(base + SdhciProbe.CAPABILITIES, 4);
                long version = space.read(base + SdhciProbe.HOST_VERSION, 2);
                space.write(base + SdhciProbe.ARGUMENT, 4, 0x600dcafeL);
                long argument = space.read(base + SdhciProbe.ARGUMENT, 4);
                long viaVfio = sdhci.read(0, SdhciProbe.ARGUMENT, 4);
                space.write(base + SdhciProbe.ARGUMENT, 4, 0);
                List<DirectRegion> direct = s.directRegions();
                // KVM refuses a memory slot smaller than a page (EINVAL): a sub-page BAR is trapped, or mapped
                // as a whole page where the guest placed it on a page boundary (as QEMU does).
                boolean wholePages = direct.stream().allMatch(r -> r.gpa() % page == 0 && r.size() % page == 0);
                boolean alignedIfMapped = base % page == 0 || direct.isEmpty();
                probe.check(name, caps == SdhciProbe.CAPABILITIES_V2 && version == SdhciProbe.VERSION_V2
                        && argument == 0x600dcafeL && viaVfio == 0x600dcafeL && wholePages && alignedIfMapped,
                        String.format("BAR0 at 0x%x: capabilities 0x%08x, host version 0x%04x, argument register wrote "
                                + "0x600dcafe, read 0x%08x (the device, through VFIO: 0x%08x); %s", base, caps, version,
                                argument, viaVfio, direct.isEmpty() ? "trapped, nothing mapped"
                                : "mapped directly: " + direct));
            });
        }
        cfgWrite(at, 0x04, 2, 0);
    }

    /**
     * The {@code -device vfio-pci} options, as the launcher takes them: placement, multifunction, ID
     * overrides, {@code sysfsdev=}, {@code x-no-mmap=on}, each device's group opened once into one
     * container for the VM.
     */
    void options(PciSysfs sysfs) {
        probe.step("model-options", () -> {
            DeviceRegistry registry = DeviceRegistry.load();
            VirtualInterruptController controller = new VirtualInterruptController(1);
            try (GuestMemory memory = new GuestMemory(); InterruptRouter r = new InterruptRouter(controller);
                 AttachedDevices devices = new AttachedDevices(space, bridge)) {
                devices.provide(GuestMemory.class, memory).provide(InterruptRouter.class, r).provide(PciSysfs.class, sysfs);
                memory.addRegion("ram", 0, MemoryBackend.memfd("ram", 16 << 20, false));
                devices.attach(registry.configure(OptionString.parse("vfio-pci,host=0000:00:08.0,id=edu0,addr=06.0,"
                        + "multifunction=on,x-pci-device-id=0x11e9,x-pci-class-code=0x050000", "driver")));
                AttachedDevices.Attached ivshmemAt = devices.attach(registry.configure(OptionString.parse("vfio-pci,"
                        + "sysfsdev=/sys/bus/pci/devices/0000:00:09.0,addr=06.1,x-no-mmap=on,rombar=0", "driver")));
                String lspci = PciConfigDump.list(bridge);
                for (String line : lspci.split("\n")) {
                    NestedVfioProbe.info("options lspci " + line);
                }
                PciDevFn fn1 = new PciDevFn(6, 1);
                bridge.configWrite(fn1.devfn(), 0x18, 4, 0xc000_000c); // BAR2: 64-bit prefetchable, 64 MiB
                bridge.configWrite(fn1.devfn(), 0x1c, 4, 0);
                bridge.configWrite(fn1.devfn(), 0x04, 2, 0x2);
                space.write(0xc000_0000L + 0x1000, 4, 0x600dcafe);
                long back = space.read(0xc000_0000L + 0x1000, 4);
                PassthroughDevice ivshmem = (PassthroughDevice) ivshmemAt.function();
                boolean trapped = ivshmem.directRegions().isEmpty();
                int headerType = bridge.configRead(new PciDevFn(6, 0).devfn(), 0x0e, 1);
                probe.check("model-options", lspci.contains("00:06.0 RAM memory [0500]: Device [1234:11e9] (rev 10)")
                        && lspci.contains("00:06.1 RAM memory [0500]: Device [1af4:1110]") && (headerType & 0x80) != 0
                        && trapped && back == 0x600dcafeL && bridge.configRead(fn1.devfn(), 0x30, 4) == 0,
                        "edu at 06.0 (multi-function, its IDs overridden), ivshmem by sysfsdev at 06.1 with x-no-mmap "
                        + "(BAR2 trapped, read back 0x" + Long.toHexString(back) + ") and rombar=0; one container, "
                        + "two groups");
            }
        });
    }

    /**
     * A VM reset of edu alone behind a bridge: the kernel offers a reset (a secondary bus reset reaches
     * it alone), and a hot reset of its bus succeeds with its group's fd as proof of ownership.
     */
    void hotReset(PciSysfs sysfs) {
        probe.step("model-hot-reset", () -> {
            DeviceRegistry registry = DeviceRegistry.load();
            VirtualInterruptController controller = new VirtualInterruptController(1);
            try (GuestMemory memory = new GuestMemory(); InterruptRouter r = new InterruptRouter(controller);
                 AttachedDevices devices = new AttachedDevices(space, bridge)) {
                devices.provide(GuestMemory.class, memory).provide(InterruptRouter.class, r).provide(PciSysfs.class, sysfs);
                memory.addRegion("ram", 0, MemoryBackend.memfd("ram", 16 << 20, false));
                AttachedDevices.Attached p = devices.attach(registry.configure(OptionString.parse("vfio-pci,host="
                        + NestedVfioProbe.EDU_ALONE_ON_A_BUS + ",addr=07.0", "driver")));
                PassthroughDevice model = (PassthroughDevice) p.function();
                VfioDevice d = (VfioDevice) model.backend();
                NestedVfioProbe.info("alone-on-a-bus edu: VFIO_DEVICE_FLAGS_RESET " + d.supportsReset() + ", a hot "
                        + "reset affects " + d.hotResetInfo());
                bridge.configWrite(p.at().devfn(), 0x10, 4, 0xfe80_0000);
                bridge.configWrite(p.at().devfn(), 0x04, 2, 0x2);
                boolean mappedBefore = !model.directRegions().isEmpty();
                bridge.reset(); // the kernel offers a reset: alone on its bus, a bus reset is the device's reset
                boolean unmapped = model.directRegions().isEmpty() && bridge.configRead(p.at().devfn(), 0x10, 4) == 0;
                d.hotReset(d.group().container().groups()); // and explicitly: VFIO_DEVICE_PCI_HOT_RESET, group fds
                int ids = bridge.configRead(p.at().devfn(), 0, 4);
                probe.check("model-hot-reset", mappedBefore && unmapped && ids == 0x11e81234, String.format(
                        "VM reset: BAR0 unmapped and unassigned, the device reset by VFIO_DEVICE_RESET (a bus reset "
                        + "reaches it alone); VFIO_DEVICE_PCI_HOT_RESET with its group's fd succeeded; it answers "
                        + "[%04x:%04x]", ids & 0xFFFF, ids >>> 16));
            }
        });
    }

    /** Where capability {@code id} is in the guest's view. */
    private int capability(PciDevFn at, int id) {
        for (int p = cfg(at, 0x34, 1) & 0xFC, guard = 0; p != 0 && guard < 48; p = cfg(at, p + 1, 1) & 0xFC, guard++) {
            if (cfg(at, p, 1) == id) {
                return p;
            }
        }
        throw new IllegalStateException("no capability " + id);
    }
}
