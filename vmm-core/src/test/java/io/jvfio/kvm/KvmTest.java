package io.jvfio.kvm;

import io.jvfio.vmm.testing.OnKvm;
import io.jvfio.vmm.linux.kvm.KvmConstants;
import io.jvfio.vmm.linux.kvm.KvmRun;
import org.junit.jupiter.api.Test;

import static io.jvfio.vmm.linux.kvm.KvmConstants.KVM_MP_STATE_RUNNABLE;
import static io.jvfio.vmm.linux.kvm.KvmConstants.KVM_MP_STATE_UNINITIALIZED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The real /dev/kvm of this machine (nested, PVM back end: see shared/kvm/README.md). */
@OnKvm
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

    @Test
    void moreVcpusThanKvmAllowsAreRefusedWithTheLimit() {
        io.jvfio.vmm.testing.Prerequisites.requireKvm();
        try (Kvm kvm = Kvm.open()) {
            int max = kvm.maxVcpus();
            assertTrue(max >= kvm.recommendedVcpus() && kvm.recommendedVcpus() >= 1,
                    "max " + max + ", recommended " + kvm.recommendedVcpus());
            kvm.checkVcpus(1);
            kvm.checkVcpus(max);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> kvm.checkVcpus(max + 1));
            assertEquals((max + 1) + " vCPUs: this KVM allows " + max + " vCPUs per VM (KVM_CAP_MAX_VCPUS; it recommends "
                    + kvm.recommendedVcpus() + ", KVM_CAP_NR_VCPUS): give -smp " + max + " or fewer", e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> kvm.checkVcpus(0));
        }
    }

    /** With an in-kernel irqchip, KVM holds every vCPU but 0 for INIT/SIPI until the VMM lets it run. */
    @Test
    void applicationProcessorsWaitForStartUntilMadeRunnable() {
        io.jvfio.vmm.testing.Prerequisites.requireKvm();
        try (Kvm kvm = Kvm.open(); KvmVm vm = KvmVm.create(kvm)) {
            vm.createIrqchip();
            try (KvmVcpu bsp = KvmVcpu.create(vm, 0); KvmVcpu ap = KvmVcpu.create(vm, 1)) {
                assertEquals(KVM_MP_STATE_RUNNABLE, bsp.mpState());
                assertEquals(KVM_MP_STATE_UNINITIALIZED, ap.mpState());
                ap.makeRunnable();
                assertEquals(KVM_MP_STATE_RUNNABLE, ap.mpState());
                bsp.makeRunnable();
                assertEquals(KVM_MP_STATE_RUNNABLE, bsp.mpState(), "harmless on vCPU 0");
            }
        }
    }
}
