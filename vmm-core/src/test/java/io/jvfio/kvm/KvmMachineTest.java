package io.jvfio.kvm;

import io.jvfio.vmm.testing.OnKvm;
import io.jvfio.vmm.testing.Prerequisites;
import org.junit.jupiter.api.Test;

import java.io.File;

import static io.jvfio.vmm.linux.kvm.KvmConstants.KVM_MP_STATE_RUNNABLE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The one KVM set-up: a VM with its irqchip and runnable vCPUs, and nothing left open. Real /dev/kvm. */
@OnKvm
class KvmMachineTest {

    static int openFds() {
        String[] fds = new File("/proc/self/fd").list();
        return fds == null ? -1 : fds.length;
    }

    @Test
    void buildsAVmWithItsIrqchipAndRunnableVcpus() {
        Prerequisites.requireKvm();
        int before = openFds();
        try (KvmMachine m = KvmMachine.create(2)) {
            assertTrue(m.vm().hasIrqchip());
            assertEquals(2, m.vcpus().size());
            for (int i = 0; i < 2; i++) {
                assertEquals(i, m.vcpus().get(i).id());
                assertEquals(KVM_MP_STATE_RUNNABLE, m.vcpus().get(i).mpState(), "vCPU " + i);
            }
        }
        assertEquals(before, openFds(), "the vCPUs, the VM and /dev/kvm closed");
    }

    @Test
    void tooManyVcpusAreRefusedWithNothingLeftOpen() {
        Prerequisites.requireKvm();
        int before = openFds();
        int max;
        try (Kvm kvm = Kvm.open()) {
            max = kvm.maxVcpus();
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> KvmMachine.create(max + 1));
        assertTrue(e.getMessage().startsWith((max + 1) + " vCPUs: this KVM allows " + max), e.getMessage());
        assertEquals(before, openFds(), "what create had opened is closed");
    }

    /** A machine closed while its vCPUs run stops them first: their threads use the vCPUs' mappings. */
    @Test
    void closeStopsRunningVcpusFirst() throws Exception {
        Prerequisites.requireKvm();
        TinyGuest g = new TinyGuest(GuestCode.assemble("1: jmp 1b"), 2);
        try {
            g.start();
            assertTrue(g.vcpus.running());
        } finally {
            g.close();
        }
        assertFalse(g.vcpus.running(), "both vCPUs' threads ended before their file descriptors closed");
    }
}
