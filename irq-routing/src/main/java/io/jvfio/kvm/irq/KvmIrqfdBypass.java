package io.jvfio.kvm.irq;

import io.jvfio.irq.InterruptBypass;
import io.jvfio.irq.MsiMessage;
import io.jvfio.kvm.KvmVm;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.kvm.KvmConstants;

/**
 * KVM's irqfd as the interrupt bypass: each bound eventfd gets a GSI, the GSI an MSI route with the
 * guest's message (KVM_SET_GSI_ROUTING), and the eventfd is bound to it (KVM_IRQFD), so a device's
 * signal is injected by the kernel without waking any user-space thread. An INTx line is bound the
 * way QEMU's vfio-pci binds it under KVM: its GSI routed to the in-kernel IOAPIC's pin, and an irqfd
 * with a resample eventfd ({@code KVM_IRQFD_FLAG_RESAMPLE}), which the kernel signals at the guest's
 * EOI after deasserting the line, and which VFIO takes as its INTx unmask eventfd.
 */
public final class KvmIrqfdBypass implements InterruptBypass {

    private final KvmVm vm;

    public KvmIrqfdBypass(KvmVm vm) {
        this.vm = vm;
    }

    @Override
    public Binding bind(EventFd trigger, MsiMessage message) {
        int gsi = vm.freeMsiGsi();
        int fd = trigger.fd().get();
        try {
            vm.setMsiRoute(gsi, message.address(), message.data());
            vm.assignIrqfd(fd, gsi);
        } catch (RuntimeException e) {
            vm.removeMsiRoute(gsi);
            throw e;
        }
        return new Binding() {
            @Override
            public void update(MsiMessage m) {
                vm.setMsiRoute(gsi, m.address(), m.data());
            }

            @Override
            public void unbind() {
                vm.deassignIrqfd(fd, gsi);
                vm.removeMsiRoute(gsi);
            }
        };
    }

    @Override
    public Binding bindLine(EventFd trigger, EventFd resample, int gsi) {
        if (gsi < 0 || gsi >= KvmVm.IOAPIC_PINS) {
            throw new IllegalArgumentException("GSI " + gsi + " is not an IOAPIC pin (0-" + (KvmVm.IOAPIC_PINS - 1)
                    + ")");
        }
        int fd = trigger.fd().get();
        vm.setIrqchipRoute(gsi, KvmConstants.KVM_IRQCHIP_IOAPIC, gsi);
        vm.assignResampleIrqfd(fd, gsi, resample.fd().get());
        return new Binding() {
            @Override
            public void update(MsiMessage m) {
                throw new IllegalStateException("an INTx line's binding is its GSI; it has no message to update");
            }

            @Override
            public void unbind() {
                vm.deassignIrqfd(fd, gsi);
            }
        };
    }
}
