package io.jvfio.irq.kvm;

import io.jvfio.irq.InterruptBypass;
import io.jvfio.irq.MsiMessage;
import io.jvfio.vmm.kvm.KvmVm;
import io.jvfio.vmm.linux.EventFd;

/**
 * KVM's irqfd as the interrupt bypass: each bound eventfd gets a GSI, the GSI an MSI route with the
 * guest's message (KVM_SET_GSI_ROUTING), and the eventfd is bound to it (KVM_IRQFD), so a device's
 * signal is injected by the kernel without waking any user-space thread.
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
}
