package io.jvfio.vfio.kernel;

import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.pci.PciAddress;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Sysfs as VFIO sees it. A test double: this machine's kernel has no IOMMU, so the tree here is built
 * in a temporary directory with the layout of the nested test VM (group 7: a bridge, an edu bound to
 * vfio-pci, a serial port held by the serial driver; each device on vfio-pci with its VFIO cdev, as a
 * 6.6+ kernel has it). The nested test checks the same code against the real sysfs of a kernel with
 * an IOMMU.
 */
class PciSysfsTest {

    @TempDir
    Path root;
    private PciSysfs sysfs;

    private void device(String bdf, String vendor, String device, String classCode, int group, String driver)
            throws IOException {
        Path d = root.resolve("bus/pci/devices").resolve(bdf);
        Files.createDirectories(d);
        Files.writeString(d.resolve("vendor"), "0x" + vendor + "\n");
        Files.writeString(d.resolve("device"), "0x" + device + "\n");
        Files.writeString(d.resolve("class"), "0x" + classCode + "\n");
        Path groupDir = root.resolve("kernel/iommu_groups").resolve(Integer.toString(group));
        Files.createDirectories(groupDir.resolve("devices"));
        Files.createSymbolicLink(d.resolve("iommu_group"), Path.of("../../../../kernel/iommu_groups/" + group));
        Files.createSymbolicLink(groupDir.resolve("devices").resolve(bdf), Path.of("../../../../bus/pci/devices/" + bdf));
        if (driver != null) {
            Path drv = root.resolve("bus/pci/drivers").resolve(driver);
            Files.createDirectories(drv);
            Files.createSymbolicLink(d.resolve("driver"), Path.of("../../../../bus/pci/drivers/" + driver));
        }
        if ("vfio-pci".equals(driver)) {
            String cdev = "vfio" + cdevs++;
            Files.createDirectories(d.resolve("vfio-dev").resolve(cdev));
            Path cls = root.resolve("class/vfio-dev").resolve(cdev);
            Files.createDirectories(cls);
            Files.createSymbolicLink(cls.resolve("device"), Path.of("../../../bus/pci/devices/" + bdf));
        }
    }

    private int cdevs;

    @BeforeEach
    void tree() throws IOException {
        device("0000:00:08.0", "1234", "11e8", "00ff00", 4, "vfio-pci");
        device("0000:00:10.0", "1b36", "0001", "060400", 7, null);
        device("0000:01:01.0", "1234", "11e8", "00ff00", 7, "vfio-pci");
        device("0000:01:02.0", "1b36", "0002", "070002", 7, "serial");
        device("0000:00:1f.2", "8086", "2922", "010601", 8, "ahci");
        Files.createDirectories(root.resolve("bus/pci/devices/0000:00:02.0"));
        // No-IOMMU mode's group for an edu on a host without an IOMMU, as drivers/vfio/group.c names it.
        device("0000:00:09.0", "1234", "11e8", "00ff00", 9, "vfio-pci");
        Files.writeString(root.resolve("kernel/iommu_groups/9/name"), "vfio-noiommu\n");
        // Its vfio-dev entry stays (as the kernel registers it), but it has no cdev node (vfio_device_add).
        sysfs = new PciSysfs(root);
    }

    private void noIommuModeParameter(String value) throws IOException {
        Path p = root.resolve("module/vfio/parameters/enable_unsafe_noiommu_mode");
        Files.createDirectories(p.getParent());
        Files.writeString(p, value + "\n");
    }

    @Test
    void aNoIommuGroupIsToldApart() throws IOException {
        PciAddress noIommu = PciAddress.tryParse("0000:00:09.0");
        assertTrue(sysfs.noIommuGroup(9));
        assertEquals(9, sysfs.noIommuGroupOf(noIommu));
        assertEquals(false, sysfs.noIommuGroup(4));
        assertEquals(-1, sysfs.noIommuGroupOf(PciAddress.tryParse("0000:00:08.0")));
        assertEquals(-1, sysfs.noIommuGroupOf(PciAddress.tryParse("0000:00:02.0")), "no group at all");
        assertEquals(false, sysfs.noIommuModeEnabled());
        noIommuModeParameter("N");
        assertEquals(false, sysfs.noIommuModeEnabled());
        String off = assertThrows(VfioException.class, () -> sysfs.iommuGroup(PciAddress.tryParse("0000:00:02.0")))
                .getMessage();
        assertTrue(!off.contains("no-IOMMU"), off);
        noIommuModeParameter("Y");
        assertTrue(sysfs.noIommuModeEnabled());
        assertEquals("0000:00:02.0 has no IOMMU group: the IOMMU is off (boot with intel_iommu=on or amd_iommu=on, and "
                + "enable VT-d/AMD-Vi in the firmware) or the kernel has no VFIO (modprobe vfio-pci); VFIO's no-IOMMU "
                + "mode is on, so binding it to vfio-pci (jvfio --vfio-bind 0000:00:02.0) gives it a no-IOMMU group, for "
                + "a host-side driver only (-accel none with x-no-iommu=on); jvfio --iommu-groups shows what the kernel "
                + "sees", assertThrows(VfioException.class, () -> sysfs.iommuGroup(PciAddress.tryParse("0000:00:02.0")))
                .getMessage());
    }

    @Test
    void groupsDevicesAndDrivers() {
        PciAddress edu = PciAddress.tryParse("0000:01:01.0");
        assertEquals(7, sysfs.iommuGroup(edu));
        assertEquals(List.of(PciAddress.tryParse("0000:00:10.0"), edu, PciAddress.tryParse("0000:01:02.0")),
                sysfs.groupDevices(7));
        assertEquals("vfio-pci", sysfs.driver(edu));
        assertEquals("serial", sysfs.driver(PciAddress.tryParse("0000:01:02.0")));
        assertEquals(null, sysfs.driver(PciAddress.tryParse("0000:00:10.0")));
        assertEquals("1234:11e8", sysfs.ids(edu));
        assertEquals(0x00ff00, sysfs.classCode(edu));
        assertEquals(List.of(4, 7, 8, 9), sysfs.groups());
    }

    @Test
    void aDeviceWithoutAGroupSaysWhy() {
        VfioException e = assertThrows(VfioException.class,
                () -> sysfs.iommuGroup(PciAddress.tryParse("0000:00:02.0")));
        assertTrue(e.getMessage().startsWith("0000:00:02.0 has no IOMMU group: the IOMMU is off (boot with "
                + "intel_iommu=on or amd_iommu=on"), e.getMessage());
        assertEquals("there is no PCI device 0000:09:00.0 (lspci -D lists the devices of this machine)",
                assertThrows(VfioException.class, () -> sysfs.iommuGroup(PciAddress.tryParse("0000:09:00.0")))
                        .getMessage());
    }

    @Test
    void theReportSaysWhatToDoPerGroup() {
        String report = IommuGroupReport.render(sysfs, null);
        assertEquals("""
                IOMMU group 4 (/dev/vfio/4): ready to pass through
                  0000:00:08.0 [1234:11e8] class 00ff00, driver vfio-pci, cdev /dev/vfio/devices/vfio0
                IOMMU group 7 (/dev/vfio/7): not viable: a device in it is still bound to a host driver
                  0000:00:10.0 [1b36:0001] class 060400, no driver
                  0000:01:01.0 [1234:11e8] class 00ff00, driver vfio-pci, cdev /dev/vfio/devices/vfio1
                  0000:01:02.0 [1b36:0002] class 070002, driver serial
                  to pass it through, bind 0000:01:02.0 to vfio-pci: echo vfio-pci > /sys/bus/pci/devices/0000:01:02.0/driver_override; echo 0000:01:02.0 > /sys/bus/pci/devices/0000:01:02.0/driver/unbind; echo 0000:01:02.0 > /sys/bus/pci/drivers_probe (or: jvfio --vfio-bind BDF)
                IOMMU group 8 (/dev/vfio/8): used by the host
                  0000:00:1f.2 [8086:2922] class 010601, driver ahci
                  to pass it through, bind 0000:00:1f.2 to vfio-pci: echo vfio-pci > /sys/bus/pci/devices/0000:00:1f.2/driver_override; echo 0000:00:1f.2 > /sys/bus/pci/devices/0000:00:1f.2/driver/unbind; echo 0000:00:1f.2 > /sys/bus/pci/drivers_probe (or: jvfio --vfio-bind BDF)
                IOMMU group 9 (/dev/vfio/noiommu-9): no-IOMMU (VFIO's unsafe mode: no DMA translation or isolation, the kernel is tainted): never for a guest; for the host-side driver only, with -accel none and x-no-iommu=on (needs CAP_SYS_RAWIO and CAP_SYS_ADMIN)
                  0000:00:09.0 [1234:11e8] class 00ff00, driver vfio-pci
                iommufd: available (/dev/iommu): -object iommufd,id=ID with -device vfio-pci,host=BDF,iommufd=ID binds a device through its cdev
                """, report);
    }

    /**
     * KernelVfio on this tree: a no-IOMMU device is refused to the group path with the mode's reason
     * before anything is opened, and x-no-iommu's path refuses a device an IOMMU translates.
     */
    @Test
    void kernelVfioRefusesANoIommuDeviceUnlessOptedInAndOnlyThatOne() {
        try (io.jvfio.memory.GuestMemory memory = new io.jvfio.memory.GuestMemory();
             KernelVfio vfio = new KernelVfio(memory, sysfs)) {
            VfioException e = assertThrows(VfioException.NoIommu.class,
                    () -> vfio.openDevice(PciAddress.tryParse("0000:00:09.0")));
            assertEquals("0000:00:09.0 is in a no-IOMMU group (/dev/vfio/noiommu-9, VFIO's enable_unsafe_noiommu_mode on "
                    + "a host without an IOMMU): without an IOMMU there is no DMA translation, so a guest cannot be given "
                    + "the device safely (the guest physical addresses its driver programs would reach host memory, "
                    + "anywhere); for a host-side user-space driver use -accel none with x-no-iommu=on, or boot the host "
                    + "with an IOMMU (intel_iommu=on or amd_iommu=on) to pass the device to a guest", e.getMessage());
            assertEquals("x-no-iommu=on: 0000:00:08.0 is in IOMMU group 4 (/dev/vfio/4), which an IOMMU translates, not "
                    + "in a no-IOMMU group; drop x-no-iommu=on", assertThrows(VfioException.class,
                    () -> vfio.openNoIommuDevice(PciAddress.tryParse("0000:00:08.0"))).getMessage());
            assertTrue(assertThrows(VfioException.class, () -> vfio.openNoIommuDevice(PciAddress.tryParse("0000:00:02.0")))
                    .getMessage().startsWith("0000:00:02.0 has no IOMMU group"));
        }
    }

    @Test
    void theReportSaysWhenIommufdIsMissing() {
        String report = IommuGroupReport.render(sysfs, "/dev/iommu does not exist: this kernel has no iommufd");
        assertTrue(report.endsWith("\niommufd: not available: /dev/iommu does not exist: this kernel has no iommufd\n"),
                report);
    }

    @Test
    void aDeviceCdevIsFoundBothWays() {
        PciAddress edu = PciAddress.tryParse("0000:01:01.0");
        assertEquals("vfio1", sysfs.vfioCdev(edu));
        assertEquals(VfioDeviceName.pci(edu), sysfs.cdevDeviceName("vfio1"));
        assertEquals(null, sysfs.vfioCdev(PciAddress.tryParse("0000:01:02.0")));
        assertEquals("the VFIO device cdev vfio9 belongs to no PCI or mediated device (" + root.resolve(
                "class/vfio-dev/vfio9/device") + " is missing or names none); pass the cdev of a PCI device bound to "
                + "vfio-pci, or of an mdev", assertThrows(VfioException.class, () -> sysfs.cdevDeviceName("vfio9"))
                .getMessage());
    }

    /**
     * A mediated device (an mtty as the nested VM's kernel makes it): named by its UUID in sysfs, with
     * the group the kernel made for it alone, its type and its cdev; refused, by name, where only a PCI
     * function will do.
     */
    @Test
    void aMediatedDeviceIsNamedByItsUuid() throws IOException {
        String uuid = "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001";
        Path d = root.resolve("bus/mdev/devices").resolve(uuid);
        Files.createDirectories(d.resolve("vfio-dev/vfio6"));
        Files.createDirectories(root.resolve("kernel/iommu_groups/12/devices"));
        Files.createSymbolicLink(d.resolve("iommu_group"), Path.of("../../../../kernel/iommu_groups/12"));
        Files.createDirectories(root.resolve("devices/virtual/mtty/mtty/mdev_supported_types/mtty-2"));
        Files.createSymbolicLink(d.resolve("mdev_type"),
                Path.of("../../../../devices/virtual/mtty/mtty/mdev_supported_types/mtty-2"));
        Files.createDirectories(root.resolve("class/vfio-dev/vfio6"));
        Files.createSymbolicLink(root.resolve("class/vfio-dev/vfio6/device"), Path.of("../../../bus/mdev/devices/" + uuid));

        VfioDeviceName name = sysfs.nameOf(d);
        assertTrue(name.isMdev());
        assertEquals(uuid, name.toString());
        assertEquals("mdev " + uuid, name.describe());
        assertEquals(12, sysfs.iommuGroup(name));
        assertEquals("vfio6", sysfs.vfioCdev(name));
        assertEquals(name, sysfs.cdevDeviceName("vfio6"));
        assertEquals("mtty-2", sysfs.mdevType(name.mdevOrNull()));
        assertEquals(VfioDeviceName.pci(PciAddress.tryParse("0000:00:08.0")),
                sysfs.nameOf(root.resolve("bus/pci/devices/0000:00:08.0")));
        assertEquals("a hot reset needs a PCI function, and " + uuid + " is a mediated device (/sys/bus/mdev/devices/"
                + uuid + "): it has no PCI address, bus or slot of its own",
                assertThrows(VfioException.class, () -> name.requirePci("a hot reset")).getMessage());
        assertEquals(root.resolve("bus/mdev/devices/not-a-device") + " names neither a PCI device nor a mediated device "
                + "in sysfs (expected /sys/bus/pci/devices/0000:01:00.0 or /sys/bus/mdev/devices/UUID)",
                assertThrows(VfioException.class, () -> sysfs.nameOf(root.resolve("bus/mdev/devices/not-a-device")))
                        .getMessage());
        String gone = "83b8f4f2-509f-382f-3c1e-e6bfe0fa1002";
        assertTrue(assertThrows(VfioException.class, () -> sysfs.nameOf(root.resolve("bus/mdev/devices/" + gone)))
                .getMessage().endsWith("does not exist: there is no mediated device " + gone + " (ls /sys/bus/mdev/devices "
                        + "lists them; echo a UUID to /sys/class/mdev_bus/PARENT/mdev_supported_types/TYPE/create makes one)"));
        try (io.jvfio.memory.GuestMemory memory = new io.jvfio.memory.GuestMemory();
             KernelVfio vfio = new KernelVfio(memory, sysfs)) {
            assertEquals("there is no mediated device " + gone + " on this host (ls /sys/bus/mdev/devices lists them; echo "
                    + gone + " > /sys/class/mdev_bus/PARENT/mdev_supported_types/TYPE/create makes it)",
                    assertThrows(VfioException.class, () -> vfio.openDevice(VfioDeviceName.tryParse(gone))).getMessage());
        }
    }

    /** The cdev path refuses a non-viable group before binding, with the group path's text. */
    @Test
    void theCdevPathRefusesANonViableGroupAsTheGroupPathDoes() {
        VfioException e = assertThrows(VfioException.GroupNotViable.class,
                () -> VfioDeviceCdev.open(PciAddress.tryParse("0000:01:01.0"), sysfs, null));
        assertEquals("VFIO group 7 is not viable: every device in an IOMMU group must be bound to vfio-pci (or to no "
                + "driver) before any of them can be assigned, and 0000:01:02.0 [1b36:0002] is bound to serial. Bind "
                + "it: echo vfio-pci > /sys/bus/pci/devices/0000:01:02.0/driver_override; echo 0000:01:02.0 > "
                + "/sys/bus/pci/devices/0000:01:02.0/driver/unbind; echo 0000:01:02.0 > /sys/bus/pci/drivers_probe",
                e.getMessage());
    }

    @Test
    void aDeviceWithoutACdevSaysWhatToDo() {
        VfioException e = assertThrows(VfioException.class,
                () -> VfioDeviceCdev.open(PciAddress.tryParse("0000:00:1f.2"), sysfs, null));
        assertEquals("0000:00:1f.2 has no VFIO device cdev (/sys/bus/pci/devices/0000:00:1f.2/vfio-dev is missing): "
                + "bind it to vfio-pci (jvfio --vfio-bind 0000:00:1f.2) on a kernel with CONFIG_VFIO_DEVICE_CDEV (Linux "
                + "6.6 or later), or drop iommufd= to use its VFIO group", e.getMessage());
    }

    @Test
    void noIommuIsExplained(@TempDir Path empty) {
        assertTrue(IommuGroupReport.render(new PciSysfs(empty)).startsWith("No IOMMU groups: /sys/kernel/iommu_groups "
                + "is empty. The IOMMU is off"));
    }
}
