package io.jvfio.vmm.linux.jna;

import io.jvfio.vmm.testing.OnKvm;
import io.jvfio.kvm.Kvm;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.linux.ioctl.Ioctl;
import io.jvfio.vmm.linux.kvm.KvmIoctls;
import io.jvfio.vmm.linux.kvm.KvmRun;
import org.junit.jupiter.api.Test;


import static io.jvfio.vmm.linux.jna.LinuxConstants.O_RDWR;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The _IO/_IOR/_IOW/_IOWR encoding, and a real ioctl on /dev/kvm. */
@OnKvm
class IoctlRequestTest {

    @Test
    void encodingPlacesEachPart() {
        // _IOWR('x', 0x12, 0x345): dir 3 << 30 | size 0x345 << 16 | 'x' << 8 | 0x12
        IoctlRequest r = IoctlRequest.iowr("TEST", 'x', 0x12, 0x345);
        assertEquals(0xc3457812L, r.number());
        assertEquals(0x345, r.argumentSize());
        assertEquals(0x7812L, IoctlRequest.io("T", 'x', 0x12).number());
        assertEquals(0x80087812L, IoctlRequest.ior("T", 'x', 0x12, 8).number());
        assertEquals(0x40087812L, IoctlRequest.iow("T", 'x', 0x12, 8).number());
    }

    @Test
    void partsThatDoNotFitAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> IoctlRequest.iow("BIG", 0xAE, 1, 1 << 14));
        assertEquals("BIG: ioctl size 16384 does not fit in 14 bits", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> IoctlRequest.io("T", 256, 0));
        assertThrows(IllegalArgumentException.class, () -> IoctlRequest.io("T", 1, -1));
    }

    @Test
    void kvmAnswersThroughTheDirectMappedIoctl() {
        io.jvfio.vmm.testing.Prerequisites.requireKvm();
        try (OwnedFd kvm = Syscalls.open(Kvm.DEVICE, O_RDWR)) {
            assertEquals(12, Ioctl.ioctl(kvm, KvmIoctls.KVM_GET_API_VERSION, 0L));
            int mmapSize = Ioctl.ioctl(kvm, KvmIoctls.KVM_GET_VCPU_MMAP_SIZE, 0L);
            assertTrue(mmapSize >= KvmRun.SIZEOF, "vCPU mapping of " + mmapSize + " bytes");
        }
    }
}
