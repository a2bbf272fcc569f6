package io.jvfio.vfio.kernel;

import io.jvfio.memory.GuestMemory;
import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.pci.PciAddress;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static io.jvfio.vmm.linux.jna.LinuxConstants.MFD_CLOEXEC;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What of the iommufd back end runs on any machine: {@code -object iommufd} parsing, the fds a
 * management layer hands over (checked with real fds of this process), and {@code /dev/iommu} itself:
 * absent (this build machine's kernel has no CONFIG_IOMMUFD, a real condition) its error, present an
 * IOAS allocated and its IOVA ranges read. The bind, attach and DMA paths run in the nested VM on the
 * test kernel ({@code NestedVfioTest}).
 */
class IommufdTest {

    @Test
    void iommufdIsOpenedOrItsAbsenceExplained() {
        if (Files.exists(Path.of(Iommufd.PATH))) {
            assertNull(Iommufd.problem());
            try (Iommufd i = Iommufd.open("i0"); IommufdIoas ioas = i.allocateIoas()) {
                assertTrue(ioas.id() > 0, "IOAS id " + ioas.id());
                assertTrue(!ioas.iommuInfo().ranges().isEmpty(), "an empty IOAS allows every IOVA: " + ioas.iommuInfo());
            }
            return;
        }
        String expected = "/dev/iommu does not exist: this kernel has no iommufd (it needs CONFIG_IOMMUFD, Linux 6.2 "
                + "or later, and modprobe iommufd); use the VFIO container instead (drop -object iommufd and iommufd=)";
        assertEquals(expected, Iommufd.problem());
        assertEquals("-object iommufd,id=i0: " + expected,
                assertThrows(VfioException.class, () -> Iommufd.open("i0")).getMessage());
        assertEquals("-object iommufd,id=i0: " + expected,
                assertThrows(VfioException.class, () -> IommufdObjects.open(java.util.List.of(IommufdConfig.parse(
                        "iommufd,id=i0")))).getMessage());
    }

    @Test
    void theObjectIsParsedAsQemuHasIt() {
        assertEquals(new IommufdConfig("i0", null), IommufdConfig.parse("iommufd,id=i0"));
        assertEquals(new IommufdConfig("i0", 5), IommufdConfig.parse("iommufd,id=i0,fd=5"));
        assertEquals("iommufd,id=i0,fd=5", IommufdConfig.parse("iommufd,id=i0,fd=5").toString());
        assertEquals("Parameter 'id' is missing",
                assertThrows(OptionsException.class, () -> IommufdConfig.parse("iommufd")).getMessage());
        assertEquals("Parameter 'id' expects an identifier (letters, digits, '-', '.', '_', starting with a letter)",
                assertThrows(OptionsException.class, () -> IommufdConfig.parse("iommufd,id=0x")).getMessage());
        assertTrue(assertThrows(OptionsException.class, () -> IommufdConfig.parse("iommufd,id=i0,fd=x")).getMessage()
                .startsWith("Parameter 'fd' expects"));
        assertTrue(assertThrows(OptionsException.class, () -> IommufdConfig.parse("iommufd,id=i0,dev=/dev/iommu"))
                .getMessage().startsWith("Property 'iommufd.dev' not found"));
    }

    @Test
    void iommufdEqualsIdNamingNoObjectSaysHowToMakeIt() {
        try (IommufdObjects none = IommufdObjects.open(java.util.List.of())) {
            assertEquals("iommufd=i1 names no -object iommufd; add -object iommufd,id=i1",
                    assertThrows(VfioException.class, () -> none.get("i1")).getMessage());
        }
        assertEquals("iommufd=i1 names no -object iommufd (there is i0, i2); add -object iommufd,id=i1",
                IommufdObjects.noSuchObject("i1", java.util.List.of("i0", "i2")));
    }

    /** The IOAS's answer to guest RAM in a reserved range (the nested VM maps over the MSI window for real). */
    @Test
    void anIovaOutsideTheRangesIsOneLineWithTheFix() {
        IommuInfo info = new IommuInfo(4096, java.util.List.of(new IommuInfo.IovaRange(0, 0xfedfffffL),
                new IommuInfo.IovaRange(0xfef00000L, -1L)));
        assertTrue(info.usable(0x100000, 1 << 20));
        assertTrue(!info.usable(0xfee00000L, 4096));
        assertEquals("cannot map guest RAM 'x' for DMA at IOVA 0xfee00000+0x1000: IOAS 2 of iommufd 'i0' only maps "
                + "[[0x0-0xfedfffff], [0xfef00000-0xffffffffffffffff]]; move guest RAM out of the reserved range",
                IommuAddressSpace.outsideRanges("guest RAM 'x'", 0xfee00000L, 4096, info, "IOAS 2 of iommufd 'i0'")
                        .getMessage());
    }

    @Test
    void aPassedFdMustBeOpen() {
        assertEquals("-object iommufd,id=i0,fd=1000000: fd 1000000 is not open in this process; the management layer "
                + "must pass it open (without close-on-exec) when it starts jvfio",
                assertThrows(VfioException.class, () -> Iommufd.adopt("i0", 1_000_000)).getMessage());
    }

    @Test
    void aPassedFdOfTheWrongKindIsRefusedBeforeAnyIoctl() {
        try (OwnedFd memfd = Syscalls.memfdCreate("not-iommu", MFD_CLOEXEC)) {
            int n = memfd.get();
            String path = "/memfd:not-iommu (deleted)";
            assertEquals("-object iommufd,id=i0,fd=" + n + ": fd " + n + " is " + path + ", not /dev/iommu; pass an fd "
                    + "of /dev/iommu", assertThrows(VfioException.class, () -> Iommufd.adopt("i0", n)).getMessage());
            KernelVfio vfio = new KernelVfio(new GuestMemory(), PciSysfs.system());
            PassedFd passed = PassedFd.of(n, "fd=" + n);
            assertEquals(path, passed.path());
            assertEquals("fd=" + n + " is " + path + ", neither a VFIO device cdev (/dev/vfio/devices/vfioN) nor a VFIO "
                    + "group (/dev/vfio/N); pass one of those",
                    assertThrows(VfioException.class, () -> vfio.adoptDevice(passed, null, null)).getMessage());
            assertTrue(memfd.isOpen(), "a refused fd stays the caller's");
        }
    }

    /**
     * The checks on what a passed group or cdev fd is for come before the fd is used. No such fd can
     * exist on this machine (no VFIO), so these name the paths /proc/self/fd would show; the nested
     * VM passes real ones.
     */
    @Test
    void aPassedVfioFdIsCheckedAgainstTheOtherOptions() {
        KernelVfio vfio = new KernelVfio(new GuestMemory(), PciSysfs.system());
        assertEquals("fd=7 is the VFIO device cdev /dev/vfio/devices/vfio3, which must be bound to an iommufd: add "
                + "-object iommufd,id=ID and iommufd=ID", assertThrows(VfioException.class,
                () -> vfio.adoptDevice(new PassedFd(7, "/dev/vfio/devices/vfio3"), null, null)).getMessage());
        assertEquals("fd=7 is VFIO group 12 (/dev/vfio/12), which may hold several devices: name the device with host= "
                + "or sysfsdev=", assertThrows(VfioException.class,
                () -> vfio.adoptDevice(new PassedFd(7, "/dev/vfio/12"), null, null)).getMessage());
        assertEquals("there is no PCI device 0000:ff:1f.7 on this host (lspci -D lists them)",
                assertThrows(VfioException.class, () -> vfio.adoptDevice(new PassedFd(7, "/dev/vfio/12"),
                        VfioDeviceName.pci(PciAddress.tryParse("0000:ff:1f.7")), null)).getMessage());
    }
}
