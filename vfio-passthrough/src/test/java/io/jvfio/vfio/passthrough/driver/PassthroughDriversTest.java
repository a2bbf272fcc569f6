package io.jvfio.vfio.passthrough.driver;

import io.jvfio.memory.GuestMemory;
import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.kernel.PciSysfs;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.device.AttachedDevices;
import io.jvfio.vmm.device.DeviceConfig;
import io.jvfio.vmm.device.DeviceRegistry;
import io.jvfio.vmm.device.DriverSide;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.pci.PciAddress;
import org.junit.jupiter.api.Test;

import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The two passthrough drivers as the launcher finds them: through the ServiceLoader. */
class PassthroughDriversTest {

    private final DeviceRegistry registry = DeviceRegistry.load();

    private String error(String spec) {
        return assertThrows(OptionsException.class, () -> registry.parse(spec)).getMessage();
    }

    @Test
    void bothDriversAreRegistered() {
        // Beside vmm-core's own pcie-root-port.
        assertEquals(Set.of("pcie-root-port", "vfio-pci", "vfio-user-pci"), registry.drivers().keySet());
    }

    @Test
    void vfioPciTakesQemuOptions() {
        DeviceConfig c = registry.parse("vfio-pci,host=0000:03:00.0,id=gpu,addr=05.0,multifunction=on,x-no-mmap=on,"
                + "rombar=0,x-pci-vendor-id=0x8086,x-pci-device-id=0x10d3,x-pci-sub-vendor-id=0x1af4,"
                + "x-pci-sub-device-id=0x1100,x-pci-class-code=0x020000");
        assertEquals(new PciAddress(0, 3, 0, 0), c.properties().pciAddress("host"));
        assertEquals("gpu", c.id());
        assertEquals(0, c.properties().number("rombar"));
        assertEquals(0x020000, c.properties().number("x-pci-class-code"));
        assertTrue(c.properties().bool("x-no-mmap"));
        DeviceConfig bySysfs = registry.parse("vfio-pci,sysfsdev=/sys/bus/pci/devices/0000:03:00.0");
        assertFalse(bySysfs.properties().has("host"));
    }

    @Test
    void theMisspelledPropertyOfTheIssue() {
        assertEquals("Property 'vfio-pci.hots' not found (did you mean 'host'? -device vfio-pci,help lists them)",
                error("vfio-pci,hots=1"));
    }

    @Test
    void vfioPciNeedsExactlyOneDevice() {
        assertEquals("vfio-pci: No provided host device - Use -device vfio-pci,host=DDDD:BB:DD.F or "
                + "-device vfio-pci,sysfsdev=PATH_TO_DEVICE", error("vfio-pci"));
        assertEquals("vfio-pci: host= and sysfsdev= both name the device; give one of them",
                error("vfio-pci,host=01:00.0,sysfsdev=/sys/bus/pci/devices/0000:01:00.0"));
        assertEquals("Parameter 'sysfsdev' expects an absolute sysfs path, e.g. "
                + "sysfsdev=/sys/bus/pci/devices/0000:01:00.0", error("vfio-pci,sysfsdev=0000:01:00.0"));
        assertEquals("Parameter 'x-pci-class-code' expects an integer from 0 to 0xffffff",
                error("vfio-pci,host=01:00.0,x-pci-class-code=0x1000000"));
    }

    @Test
    void xNoIommuGoesWithAHostDeviceAndNothingElse() {
        assertTrue(registry.parse("vfio-pci,host=00:08.0,x-no-iommu=on").properties().bool("x-no-iommu"));
        assertEquals("vfio-pci: x-no-iommu=on opens the device's no-IOMMU group (/dev/vfio/noiommu-N), and the kernel "
                + "gives a no-IOMMU device no cdev to bind to an iommufd; drop iommufd=",
                error("vfio-pci,host=00:08.0,x-no-iommu=on,iommufd=i0"));
        assertEquals("vfio-pci: x-no-iommu=on opens the device's no-IOMMU group itself, which needs CAP_SYS_RAWIO in "
                + "this process whoever opened it; name the device with host= or sysfsdev= instead of fd=",
                error("vfio-pci,fd=5,x-no-iommu=on"));
        assertEquals("Property 'vfio-user-pci.x-no-iommu' not found (-device vfio-user-pci,help lists them)",
                error("vfio-user-pci,socket=/tmp/s,x-no-iommu=on"));
    }

    /**
     * With a guest driving the devices (KVM), x-no-iommu=on is refused with the reason before anything of
     * the host is looked at: the device named here does not exist.
     */
    @Test
    void xNoIommuIsRefusedWhenAGuestDrivesTheDevices() {
        try (GuestMemory memory = new GuestMemory()) {
            AttachedDevices devices = new AttachedDevices(new AddressSpace(), null)
                    .provide(GuestMemory.class, memory).provide(PciSysfs.class, PciSysfs.system())
                    .provide(DriverSide.class, DriverSide.GUEST);
            try (devices) {
                VfioException e = assertThrows(VfioException.NoIommu.class,
                        () -> devices.attach(registry.parse("vfio-pci,host=0000:ff:1f.7,x-no-iommu=on")));
                assertEquals("x-no-iommu=on is for the host-side driver only (-accel none): this machine runs its guest "
                        + "on KVM, and without an IOMMU there is no DMA translation, so a guest cannot be given a no-IOMMU "
                        + "device safely (the guest physical addresses its driver programs would reach host memory, "
                        + "anywhere); use -accel none, or boot the host with an IOMMU and drop x-no-iommu=on",
                        e.getMessage());
            }
        }
    }

    @Test
    void vfioUserPciTakesASocketAndATimeout() {
        DeviceConfig c = registry.parse("vfio-user-pci,socket=/tmp/edu,,1.sock,x-msg-timeout=250");
        assertEquals("/tmp/edu,1.sock", c.properties().string("socket"));
        assertEquals(250, c.properties().number("x-msg-timeout"));
        assertEquals(5000, registry.parse("vfio-user-pci,socket=/s").properties().number("x-msg-timeout"));
        assertEquals("vfio-user-pci: No socket given - Use -device vfio-user-pci,socket=PATH", error("vfio-user-pci"));
        assertEquals("Parameter 'x-msg-timeout' expects an integer from 1 to 3600000",
                error("vfio-user-pci,socket=/s,x-msg-timeout=0"));
    }
}
