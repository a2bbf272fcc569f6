package io.jvfio.vfio.kernel;

import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.pci.PciAddress;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * What sysfs says about PCI devices and IOMMU groups: a device's group, a group's devices, their
 * drivers and IDs; and binding a device to vfio-pci (driver_override, unbind, drivers_probe) when the
 * user asks for it. The root is {@code /sys} except in tests that cannot have a real one.
 */
public final class PciSysfs {

    /** Drivers the kernel lets share a group with an assigned device (vfio_dev_driver_allowed, plus VFIO's own). */
    private static final List<String> GROUP_SAFE_DRIVERS = List.of("vfio-pci", "pci-stub", "pcieport");

    /** The name VFIO gives the IOMMU group it makes for a device in no-IOMMU mode (drivers/vfio/group.c). */
    public static final String NO_IOMMU_GROUP_NAME = "vfio-noiommu";

    private final Path root;

    public PciSysfs(Path root) {
        this.root = root;
    }

    /** The machine's own sysfs. */
    public static PciSysfs system() {
        return new PciSysfs(Path.of("/sys"));
    }

    private Path device(PciAddress a) {
        return root.resolve("bus/pci/devices").resolve(a.toString());
    }

    public boolean exists(PciAddress a) {
        return Files.isDirectory(device(a));
    }

    /** The IOMMU group of {@code a}, or an error that says why there is none. */
    public int iommuGroup(PciAddress a) {
        if (!exists(a)) {
            throw new VfioException("there is no PCI device " + a + " (lspci -D lists the devices of this machine)");
        }
        Path link = device(a).resolve("iommu_group");
        if (!Files.exists(link)) {
            throw new VfioException(a + " has no IOMMU group: the IOMMU is off (boot with intel_iommu=on or "
                    + "amd_iommu=on, and enable VT-d/AMD-Vi in the firmware) or the kernel has no VFIO "
                    + "(modprobe vfio-pci)" + (noIommuModeEnabled() ? "; VFIO's no-IOMMU mode is on, so binding it to "
                    + "vfio-pci (jvfio --vfio-bind " + a + ") gives it a no-IOMMU group, for a host-side driver only "
                    + "(-accel none with x-no-iommu=on)" : "") + "; jvfio --iommu-groups shows what the kernel sees");
        }
        return Integer.parseInt(readLinkName(link));
    }

    /**
     * True if IOMMU group {@code group} is one VFIO made for a device on a host without an IOMMU
     * ({@link NoIommuMode}): the kernel names such a group {@value #NO_IOMMU_GROUP_NAME}, and its node is
     * {@code /dev/vfio/noiommu-N}.
     */
    public boolean noIommuGroup(int group) {
        Path name = root.resolve("kernel/iommu_groups").resolve(Integer.toString(group)).resolve("name");
        return Files.isRegularFile(name) && NO_IOMMU_GROUP_NAME.equals(read(name));
    }

    /** The no-IOMMU group of {@code a}, or -1 if it has none (no group at all, or one an IOMMU translates). */
    public int noIommuGroupOf(PciAddress a) {
        if (!Files.exists(device(a).resolve("iommu_group"))) {
            return -1;
        }
        int group = iommuGroup(a);
        return noIommuGroup(group) ? group : -1;
    }

    /** Whether VFIO's no-IOMMU mode is on ({@code vfio.enable_unsafe_noiommu_mode}); false without the parameter. */
    public boolean noIommuModeEnabled() {
        Path p = root.resolve("module/vfio/parameters/enable_unsafe_noiommu_mode");
        return Files.isRegularFile(p) && "Y".equals(read(p));
    }

    /** The devices of IOMMU group {@code group}, in address order. */
    public List<PciAddress> groupDevices(int group) {
        Path dir = root.resolve("kernel/iommu_groups").resolve(Integer.toString(group)).resolve("devices");
        List<PciAddress> devices = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.forEach(p -> {
                PciAddress a = PciAddress.tryParse(p.getFileName().toString());
                if (a != null) {
                    devices.add(a);
                }
            });
        } catch (NoSuchFileException e) {
            throw new VfioException("there is no IOMMU group " + group + " (" + dir + " does not exist)");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        devices.sort(null);
        return devices;
    }

    /** Every IOMMU group number, in order; empty without an IOMMU. */
    public List<Integer> groups() {
        Path dir = root.resolve("kernel/iommu_groups");
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.matches("\\d+")).map(Integer::parseInt)
                    .sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The VFIO device cdev of {@code a} ({@code vfioN}, whose node is {@code /dev/vfio/devices/vfioN}),
     * from {@code vfio-dev/} of the device, or null if it has none: not bound to vfio-pci, or a kernel
     * without CONFIG_VFIO_DEVICE_CDEV (before 6.6).
     */
    public String vfioCdev(PciAddress a) {
        return cdevIn(device(a).resolve("vfio-dev"));
    }

    private static String cdevIn(Path dir) {
        if (!Files.isDirectory(dir)) {
            return null;
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.matches("vfio\\d+")).findFirst().orElse(null);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The driver bound to {@code a}, or null if none. */
    public String driver(PciAddress a) {
        Path link = device(a).resolve("driver");
        return Files.exists(link) ? readLinkName(link) : null;
    }

    /** True if a device bound to this driver (or to none) may stay in a group whose devices are assigned. */
    public static boolean groupSafe(String driver) {
        return driver == null || GROUP_SAFE_DRIVERS.contains(driver);
    }

    /** {@code 1234:11e8}. */
    public String ids(PciAddress a) {
        return hex4(read(device(a).resolve("vendor"))) + ":" + hex4(read(device(a).resolve("device")));
    }

    /** The 24-bit class code. */
    public int classCode(PciAddress a) {
        return Integer.decode(read(device(a).resolve("class")));
    }

    /**
     * Binds {@code a} to vfio-pci: the override makes vfio-pci the only driver that may claim it, the
     * current driver lets go, and a probe hands it over. Returns the driver it had (null if none).
     */
    public String bindToVfioPci(PciAddress a) {
        String previous = driver(a);
        if ("vfio-pci".equals(previous)) {
            return previous;
        }
        write(device(a).resolve("driver_override"), "vfio-pci");
        if (previous != null) {
            write(device(a).resolve("driver/unbind"), a.toString());
        }
        write(root.resolve("bus/pci/drivers_probe"), a.toString());
        String now = driver(a);
        if (!"vfio-pci".equals(now)) {
            throw new VfioException("binding " + a + " to vfio-pci did not take (its driver is now "
                    + (now == null ? "none" : now) + "): is the vfio-pci module loaded? (modprobe vfio-pci)");
        }
        return previous;
    }

    /** The shell commands that bind {@code a} to vfio-pci, for a message. */
    public static String bindCommands(PciAddress a, String currentDriver) {
        String dev = "/sys/bus/pci/devices/" + a;
        return "echo vfio-pci > " + dev + "/driver_override"
                + (currentDriver != null ? "; echo " + a + " > " + dev + "/driver/unbind" : "")
                + "; echo " + a + " > /sys/bus/pci/drivers_probe";
    }

    /**
     * The VFIO name of a device named by its sysfs path ({@code sysfsdev=}, as in QEMU): a PCI function
     * ({@code /sys/bus/pci/devices/0000:01:00.0}) or a mediated device
     * ({@code /sys/bus/mdev/devices/UUID}); the directory must exist.
     */
    public VfioDeviceName nameOf(Path sysfsdev) {
        Path file = sysfsdev.getFileName();
        VfioDeviceName name = file == null ? null : VfioDeviceName.tryParse(file.toString());
        if (name == null) {
            throw new VfioException(sysfsdev + " names neither a PCI device nor a mediated device in sysfs (expected "
                    + "/sys/bus/pci/devices/0000:01:00.0 or /sys/bus/mdev/devices/UUID)");
        }
        if (!Files.isDirectory(sysfsdev)) {
            throw new VfioException(sysfsdev + " does not exist: " + (name.isPci()
                    ? "there is no PCI device " + name + " (lspci -D lists the devices of this machine)"
                    : "there is no mediated device " + name + " (ls /sys/bus/mdev/devices lists them; echo a UUID to "
                    + "/sys/class/mdev_bus/PARENT/mdev_supported_types/TYPE/create makes one)"));
        }
        return name;
    }

    private Path device(VfioDeviceName name) {
        return root.resolve(name.sysfsPath());
    }

    /** Whether sysfs has the device: a PCI function or a mediated device. */
    public boolean exists(VfioDeviceName name) {
        return Files.isDirectory(device(name));
    }

    /**
     * The IOMMU group of a PCI function or of a mediated device (whose group the kernel makes for it
     * alone, {@code vfio_register_emulated_iommu_dev}), or an error that says why there is none.
     */
    public int iommuGroup(VfioDeviceName name) {
        if (name.isPci()) {
            return iommuGroup(name.pciOrNull());
        }
        if (!exists(name)) {
            throw new VfioException("there is no mediated device " + name + " (" + device(name) + " does not exist; ls "
                    + "/sys/bus/mdev/devices lists them, and echo " + name + " > /sys/class/mdev_bus/PARENT/"
                    + "mdev_supported_types/TYPE/create makes it)");
        }
        Path link = device(name).resolve("iommu_group");
        if (!Files.exists(link)) {
            throw new VfioException("the mediated device " + name + " has no IOMMU group: its parent driver has not "
                    + "registered it with VFIO (is its vendor driver loaded, e.g. mtty?)");
        }
        return Integer.parseInt(readLinkName(link));
    }

    /** The type of mediated device {@code uuid} ({@code mtty-2}), from its {@code mdev_type} link; null if none. */
    public String mdevType(java.util.UUID uuid) {
        Path link = root.resolve("bus/mdev/devices").resolve(uuid.toString()).resolve("mdev_type");
        return Files.exists(link) ? readLinkName(link) : null;
    }

    /**
     * The VFIO device cdev of a PCI function or a mediated device ({@code vfioN}, in its
     * {@code vfio-dev/}), or null if it has none.
     */
    public String vfioCdev(VfioDeviceName name) {
        return name.isPci() ? vfioCdev(name.pciOrNull()) : cdevIn(device(name).resolve("vfio-dev"));
    }

    /** The device (PCI function or mediated device) whose VFIO cdev is {@code vfioN}. */
    public VfioDeviceName cdevDeviceName(String cdev) {
        Path link = root.resolve("class/vfio-dev").resolve(cdev).resolve("device");
        VfioDeviceName name = Files.exists(link) ? VfioDeviceName.tryParse(readLinkName(link)) : null;
        if (name == null) {
            throw new VfioException("the VFIO device cdev " + cdev + " belongs to no PCI or mediated device (" + link
                    + " is missing or names none); pass the cdev of a PCI device bound to vfio-pci, or of an mdev");
        }
        return name;
    }

    private static String hex4(String v) {
        return v.startsWith("0x") ? v.substring(2) : v;
    }

    private static String readLinkName(Path link) {
        try {
            return Files.readSymbolicLink(link).getFileName().toString();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.US_ASCII).trim();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void write(Path p, String value) {
        try {
            Files.writeString(p, value, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new VfioException("cannot write '" + value + "' to " + p + ": " + e.getMessage()
                    + " (binding drivers needs root)", e);
        }
    }
}
