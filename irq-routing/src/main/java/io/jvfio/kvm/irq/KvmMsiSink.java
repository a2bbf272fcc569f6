package io.jvfio.kvm.irq;

import io.jvfio.irq.DeliveryStatus;
import io.jvfio.irq.InterruptSink;
import io.jvfio.irq.MsiMessage;
import io.jvfio.kvm.KvmVm;
import io.jvfio.vmm.linux.SyscallException;

/**
 * Delivers interrupt messages into a KVM guest with {@code KVM_SIGNAL_MSI}: the in-kernel local
 * APICs take them as the hardware would. Messages that cannot be an interrupt are refused here with
 * the reason, before the kernel sees them.
 */
public final class KvmMsiSink implements InterruptSink {

    private final KvmVm vm;

    public KvmMsiSink(KvmVm vm) {
        this.vm = vm;
    }

    @Override
    public DeliveryStatus deliverMsi(long address, int data) {
        // Decoded in place: this runs for every interrupt and allocates nothing.
        if ((address & MsiMessage.ADDRESS_MASK) != MsiMessage.ADDRESS_BASE) {
            return DeliveryStatus.BAD_ADDRESS;
        }
        if ((data & 0xFF) < 16) {
            return DeliveryStatus.RESERVED_VECTOR;
        }
        try {
            return vm.signalMsi(address, data) ? DeliveryStatus.DELIVERED : DeliveryStatus.BLOCKED;
        } catch (SyscallException e) {
            return DeliveryStatus.UNSUPPORTED_DELIVERY_MODE;
        }
    }
}
