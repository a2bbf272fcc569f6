package io.jvfio.vfio.passthrough;

import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.InterruptRouterConfig;
import io.jvfio.irq.LocalApic;
import io.jvfio.irq.VirtualInterruptController;
import io.jvfio.irq.ioapic.IoApic;
import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vfio.VfioIrq;
import io.jvfio.vfio.user.Fds;
import io.jvfio.vfio.inprocess.InProcessBackend;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vfio.emulated.EmulatedDevice;
import io.jvfio.vfio.emulated.ForwardingDevice;
import io.jvfio.vfio.user.server.VfioUserServer;
import io.jvfio.vfio.devices.GpioDevice;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciHostBridge;
import io.jvfio.vmm.pci.PciIntxRouting;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_INFO_EVENTFD;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_INTX_IRQ_INDEX;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_IO;
import static io.jvfio.vmm.pci.PciRegs.PCI_INTERRUPT_LINE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * The GPIO card's INTx (an I/O BAR, INTA#) through the model to the emulated IOAPIC, over each back
 * end: as jvfio serves it (maskable and automasked, re-armed by the unmask eventfd at the EOI), and
 * as a libvfio-user server reports INTx (EVENTFD only: no mask, no unmask; the server signals each
 * assertion and the model gives it no unmask eventfd). Either way every raise is taken once and the
 * guest's EOI leaves the line down once the device is acknowledged.
 */
@ParameterizedClass(name = "over {0}")
@ValueSource(strings = {"vfio-user", "in-process"})
class PassthroughIntxTest {

    static final PciDevFn AT = new PciDevFn(1, 0);
    static final int PORT = 0xC000;
    static final int VECTOR = 0x52;

    @Parameter
    String transport;

    @TempDir
    Path dir;

    /** The GPIO card as a libvfio-user server would describe its INTx: EVENTFD, neither maskable nor automasked. */
    static final class UnmaskableIntx extends ForwardingDevice {
        final GpioDevice gpio;

        UnmaskableIntx() {
            this(new GpioDevice());
        }

        private UnmaskableIntx(GpioDevice gpio) {
            super(gpio);
            this.gpio = gpio;
        }

        @Override
        public List<VfioIrq> irqs() {
            List<VfioIrq> irqs = new ArrayList<>(gpio.irqs());
            irqs.set(VFIO_PCI_INTX_IRQ_INDEX, new VfioIrq(VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_INFO_EVENTFD, 1));
            return irqs;
        }

        @Override
        public String toString() {
            return "gpio with libvfio-user's INTx";
        }
    }

    void raiseAndHandle(EmulatedDevice served, boolean maskable) throws Exception {
        long fdsBefore = Fds.open();
        VfioUserServer server = null;
        VfioBackend backend;
        GuestMemory memory = new GuestMemory();
        memory.addRegion("ram", 0, MemoryBackend.memfd("ram", 16 << 20, false));
        if (transport.equals("vfio-user")) {
            Path socket = dir.resolve("gpio.sock");
            server = VfioUserServer.start(socket, served);
            backend = VfioUserClient.connect(socket, 5000, memory);
        } else {
            backend = InProcessBackend.attach("in-process " + served, served, memory);
        }
        AddressSpace space = new AddressSpace();
        PciHostBridge bridge = new PciHostBridge(space, PciHostBridge.DEFAULT_ECAM_BASE);
        VirtualInterruptController apics = new VirtualInterruptController(1);
        IoApic ioapic = new IoApic(apics);
        LocalApic apic = apics.apic(0);
        try (InterruptRouter router = new InterruptRouter(apics, InterruptRouterConfig.DEFAULT, null, ioapic);
             PassthroughDevice device = new PassthroughDevice(served + " " + transport, backend,
                     PassthroughOptions.DEFAULT, space, router)) {
            assertEquals(maskable, backend.irq(VFIO_PCI_INTX_IRQ_INDEX).maskable());
            bridge.add(AT, false, device, "vfio-user-pci");
            int gsi = PciIntxRouting.gsi(AT.slot(), 1);
            device.wireIntx(gsi);
            assertEquals(gsi, bridge.configRead(AT.devfn(), PCI_INTERRUPT_LINE, 1));
            ioapic.write(0x00, 4, 0x10 + 2 * gsi);
            ioapic.write(0x10, 4, 0x8000 | VECTOR); // level-triggered, APIC 0
            bridge.configWrite(AT.devfn(), 0x10, 4, PORT);
            bridge.configWrite(AT.devfn(), 0x04, 2, PCI_COMMAND_IO);
            for (int i = 0; i < 10; i++) {
                space.out(PORT + GpioDevice.IRQ_RAISE, 4, 1);
                Fds.await("INTx " + i + " at the local APIC", () -> apic.isPending(VECTOR));
                assertEquals(VECTOR, apic.acknowledge());
                assertEquals(GpioDevice.IRQ_PENDING, space.in(PORT + GpioDevice.IRQ_STATUS, 4));
                space.out(PORT + GpioDevice.IRQ_STATUS, 4, GpioDevice.IRQ_PENDING); // the handler acknowledges it
                apic.endOfInterrupt();
                assertFalse(ioapic.asserted(gsi), "the EOI resampled the line");
                assertEquals(-1, apic.highestPending(), "and nothing else is pending");
            }
            assertEquals(10, ioapic.delivered(), "each raise taken once");
            if (server != null) {
                assertEquals(maskable ? 2 : 1, server.assignedEventfds(),
                        maskable ? "the trigger and the unmask eventfd" : "the trigger alone: nothing to unmask");
            }
        } finally {
            backend.close();
            memory.close();
            if (server != null) {
                server.close();
            }
        }
        Fds.awaitBackTo(fdsBefore);
    }

    @Test
    void theGpioCardsIntxIsReArmedAtTheEoi() throws Exception {
        try (GpioDevice gpio = new GpioDevice()) {
            raiseAndHandle(gpio, true);
        }
    }

    @Test
    void anIntxThatCannotBeMaskedGetsNoUnmaskEventfdAndStillWorks() throws Exception {
        UnmaskableIntx device = new UnmaskableIntx();
        try {
            raiseAndHandle(device, false);
        } finally {
            device.gpio.close();
        }
    }
}
