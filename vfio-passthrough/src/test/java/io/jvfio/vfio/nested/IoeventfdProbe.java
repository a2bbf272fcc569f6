package io.jvfio.vfio.nested;

import io.jvfio.irq.InterruptRouter;
import io.jvfio.vfio.kernel.VfioDevice;
import io.jvfio.vfio.passthrough.IoEventFdRecorder;
import io.jvfio.vfio.passthrough.PassthroughDevice;
import io.jvfio.vfio.passthrough.PassthroughOptions;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.bus.IoEventFd;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciHostBridge;

import java.util.List;

import static io.jvfio.vfio.nested.NestedVfioProbe.EDU_LIVENESS;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MEMORY;

/**
 * VFIO_DEVICE_IOEVENTFD on the nested VM's edu: the ioctl itself (an eventfd for BAR0's liveness
 * register, signalled from user space as KVM would on a guest's write, and the value the kernel
 * wrote read back through the region; then removed with fd -1), and the device model's dynamic
 * ioeventfd (ten identical trapped writes earn one, handed to vfio-pci and to the address space's
 * listener, here a stand-in for KVM that takes it; the listener's eventfd signalled makes the kernel
 * write; gone when the BAR stops decoding). The nested VM has no KVM of its own for this probe.
 */
final class IoeventfdProbe {

    private static final long BAR0 = 0xfe80_0000L;

    private final NestedVfioProbe probe;
    private final VfioDevice edu;
    private final InterruptRouter router;

    IoeventfdProbe(NestedVfioProbe probe, VfioDevice edu, InterruptRouter router) {
        this.probe = probe;
        this.edu = edu;
        this.router = router;
    }

    private int liveness() {
        return (int) edu.read(0, EDU_LIVENESS, 4);
    }

    void run() {
        probe.step("edu-ioeventfd", () -> {
            try (EventFd doorbell = new EventFd("edu liveness doorbell")) {
                edu.write(0, EDU_LIVENESS, 4, 0);
                boolean set = edu.setIoEventFd(0, EDU_LIVENESS, 4, 0x12345678L, doorbell);
                doorbell.signal(); // what KVM does when the guest writes there
                boolean written = NestedVfioProbe.await(() -> liveness() == ~0x12345678, 10_000);
                probe.check("edu-ioeventfd", set && written, String.format("VFIO_DEVICE_IOEVENTFD at device fd offset 0x%x "
                        + "(BAR0 +0x4), eventfd signalled: liveness reads 0x%08x, the inverse of the 0x12345678 the "
                        + "kernel wrote", edu.region(0).offset() + EDU_LIVENESS, liveness()));
                boolean removed = edu.setIoEventFd(0, EDU_LIVENESS, 4, 0x12345678L, null);
                boolean again = edu.setIoEventFd(0, EDU_LIVENESS, 4, 0x12345678L, null);
                probe.check("edu-ioeventfd-deassign", removed && !again, "fd -1 removed it (" + removed
                        + "); removing it again found none (" + again + ")");
            }
        });
        probe.step("model-edu-dynamic-ioeventfd", this::dynamic);
    }

    private void dynamic() throws Exception {
        AddressSpace space = new AddressSpace();
        IoEventFdRecorder kvm = new IoEventFdRecorder();
        space.addListener(kvm);
        PciHostBridge bridge = new PciHostBridge(space, PciHostBridge.DEFAULT_ECAM_BASE);
        // The model writes the command register through; the steps after this one find it as it was.
        long command = edu.read(VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND, 2);
        try (PassthroughDevice d = new PassthroughDevice("vfio-pci edu (dynamic ioeventfd)", edu,
                PassthroughOptions.DEFAULT.withNoMmap(true), space, router)) {
            int devfn = bridge.add(new PciDevFn(6, 0), false, d, "vfio-pci").devfn();
            bridge.configWrite(devfn, 0x10, 4, (int) BAR0);
            bridge.configWrite(devfn, 0x04, 2, PCI_COMMAND_MEMORY);
            for (int i = 0; i < 9; i++) {
                space.write(BAR0 + EDU_LIVENESS, 4, 0xCAFE);
            }
            boolean noneAfter9 = d.doorbells().isEmpty();
            space.write(BAR0 + EDU_LIVENESS, 4, 0xCAFE);
            List<IoEventFd> doorbells = d.doorbells();
            boolean one = doorbells.size() == 1 && kvm.now.equals(doorbells) && doorbells.get(0).datamatch()
                    && doorbells.get(0).data() == 0xCAFE && doorbells.get(0).address() == BAR0 + EDU_LIVENESS;
            space.write(BAR0 + EDU_LIVENESS, 4, 0x1111); // another value: trapped, a region write
            boolean trapped = liveness() == ~0x1111;
            doorbells.get(0).eventfd().signal(); // KVM's part: the guest wrote 0xCAFE there
            boolean kernel = NestedVfioProbe.await(() -> liveness() == ~0xCAFE, 10_000);
            int signalled = liveness(); // read while BAR0 decodes: vfio-pci answers EIO when it does not
            bridge.configWrite(devfn, 0x04, 2, 0); // decoding off: the doorbell goes, from KVM and vfio-pci
            boolean gone = d.doorbells().isEmpty() && kvm.now.isEmpty()
                    && !edu.setIoEventFd(0, EDU_LIVENESS, 4, 0xCAFE, null);
            probe.check("model-edu-dynamic-ioeventfd", noneAfter9 && one && trapped && kernel && gone, String.format(
                    "none after 9 writes (%s), one after 10 (%s: %s), another value trapped (%s), the eventfd made "
                            + "vfio-pci write 0xCAFE (%s, liveness 0x%08x), gone with decoding (%s)", noneAfter9, one,
                    doorbells, trapped, kernel, signalled, gone));
        } finally {
            edu.write(VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND, 2, command);
        }
    }
}
