package io.jvfio.kvm;

import io.jvfio.vmm.linux.kvm.KvmConstants;
import io.jvfio.vmm.linux.kvm.KvmRun;
import org.junit.jupiter.api.Test;


import static org.junit.jupiter.api.Assertions.assertTrue;

/** The real /dev/kvm of this machine (nested, PVM back end: see shared/kvm/README.md). */
class KvmTest {

    @Test
    void opensAndReportsWhatTheMachineOffers() {
        io.jvfio.vmm.testing.Prerequisites.requireKvm();
        try (Kvm kvm = Kvm.open()) {
            assertTrue(kvm.vcpuMmapSize() >= KvmRun.SIZEOF);
            assertTrue(kvm.checkExtension(KvmConstants.KVM_CAP_IRQCHIP) > 0, "in-kernel irqchip");
            assertTrue(kvm.checkExtension(KvmConstants.KVM_CAP_SIGNAL_MSI) > 0, "KVM_SIGNAL_MSI");
            assertTrue(kvm.checkExtension(KvmConstants.KVM_CAP_IRQFD) > 0, "irqfd");
            assertTrue(kvm.checkExtension(KvmConstants.KVM_CAP_NR_MEMSLOTS) > 100, "memory slots");
        }
    }
}
