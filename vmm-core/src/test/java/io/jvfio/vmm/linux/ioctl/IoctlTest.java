package io.jvfio.vmm.linux.ioctl;

import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.linux.jna.IoctlRequest;
import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.linux.vfio.VfioGroupStatus;
import io.jvfio.vmm.linux.vfio.VfioIoctls;
import org.junit.jupiter.api.Test;

import static io.jvfio.vmm.linux.jna.LinuxConstants.F_GETFL;
import static io.jvfio.vmm.linux.jna.LinuxConstants.O_NONBLOCK;
import static io.jvfio.vmm.linux.jna.LinuxConstants.SOCK_STREAM;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** ioctl against the real kernel: the error type, the hot-path variant and an int passed by address. */
class IoctlTest {

    /** {@code FIONBIO} (asm-generic/ioctls.h): an old number, not _IOC-encoded; its argument is an {@code int *}. */
    private static final IoctlRequest FIONBIO = new IoctlRequest("FIONBIO", 0x5421);

    @Test
    void aFailedIoctlNamesTheRequest() {
        try (OwnedFd memfd = Syscalls.memfdCreate("not-a-vfio-group", 0)) {
            SyscallException e = assertThrows(SyscallException.class,
                    () -> Ioctl.ioctl(memfd, VfioIoctls.VFIO_GROUP_GET_STATUS, new VfioGroupStatus()));
            assertEquals("VFIO_GROUP_GET_STATUS on memfd:not-a-vfio-group: Inappropriate ioctl for device (ENOTTY)",
                    e.getMessage());
        }
    }

    @Test
    void aFailedIoctlWithAStringNamesTheString() {
        try (OwnedFd memfd = Syscalls.memfdCreate("not-a-vfio-group", 0)) {
            SyscallException e = assertThrows(SyscallException.class,
                    () -> Ioctl.ioctl(memfd, VfioIoctls.VFIO_GROUP_GET_DEVICE_FD, "0000:00:04.0"));
            assertEquals("VFIO_GROUP_GET_DEVICE_FD(\"0000:00:04.0\") on memfd:not-a-vfio-group: "
                    + "Inappropriate ioctl for device (ENOTTY)", e.getMessage());
        }
    }

    @Test
    void hotPathIoctlReturnsMinusErrnoInsteadOfThrowing() {
        try (OwnedFd memfd = Syscalls.memfdCreate("hot", 0)) {
            assertEquals(-Errno.ENOTTY.number(),
                    Ioctl.ioctlOrErrno(memfd, VfioIoctls.VFIO_GROUP_GET_STATUS, 0L));
        }
    }

    @Test
    void anIntPassedByAddressReachesTheKernel() {
        OwnedFd[] pair = Syscalls.socketpair(SOCK_STREAM, "fionbio");
        try (OwnedFd a = pair[0]; OwnedFd b = pair[1]) {
            assertEquals(0, LibC.fcntl(a.get(), F_GETFL, 0) & O_NONBLOCK, "a new socket blocks");
            Ioctl.ioctlIntRef(a, FIONBIO, 1);
            assertEquals(O_NONBLOCK, LibC.fcntl(a.get(), F_GETFL, 0) & O_NONBLOCK, "FIONBIO read 1");
            Ioctl.ioctlIntRef(a, FIONBIO, 0);
            assertEquals(0, LibC.fcntl(a.get(), F_GETFL, 0) & O_NONBLOCK, "FIONBIO read 0");
        }
    }
}
