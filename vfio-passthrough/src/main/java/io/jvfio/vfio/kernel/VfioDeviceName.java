package io.jvfio.vfio.kernel;

import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.pci.PciAddress;

import java.util.Objects;
import java.util.UUID;

/**
 * The name the kernel's VFIO knows a device by, the string VFIO_GROUP_GET_DEVICE_FD takes and the
 * name of its directory in sysfs: a PCI function bound to vfio-pci ({@code 0000:01:00.0}, under
 * {@code /sys/bus/pci/devices}), or a mediated device ({@code mdev}, a device a host driver emulates,
 * such as the kernel's {@code mtty} sample), named by the UUID it was created with (under
 * {@code /sys/bus/mdev/devices}). Operations that exist on a PCI bus only (a hot reset, binding a
 * driver) take the PCI address, which {@link #requirePci(String)} gives or refuses with the reason.
 */
public final class VfioDeviceName {

    private final PciAddress pci;
    private final UUID mdev;

    private VfioDeviceName(PciAddress pci, UUID mdev) {
        this.pci = pci;
        this.mdev = mdev;
    }

    /** A PCI function's name: its address. */
    public static VfioDeviceName pci(PciAddress address) {
        return new VfioDeviceName(Objects.requireNonNull(address, "address"), null);
    }

    /** A mediated device's name: the UUID written to its type's {@code create} file. */
    public static VfioDeviceName mdev(UUID uuid) {
        return new VfioDeviceName(null, Objects.requireNonNull(uuid, "uuid"));
    }

    /**
     * The name in {@code text}: a PCI address ({@code [domain:]bus:slot.function}) or an mdev UUID;
     * null if it is neither.
     */
    public static VfioDeviceName tryParse(String text) {
        PciAddress a = PciAddress.tryParse(text);
        if (a != null) {
            return pci(a);
        }
        UUID uuid = parseUuid(text);
        return uuid == null ? null : mdev(uuid);
    }

    /** {@code text} as a UUID in its canonical 8-4-4-4-12 form (as the mdev core takes it), else null. */
    private static UUID parseUuid(String text) {
        if (text == null || !text.matches("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")) {
            return null;
        }
        return UUID.fromString(text);
    }

    public boolean isPci() {
        return pci != null;
    }

    public boolean isMdev() {
        return mdev != null;
    }

    /**
     * The PCI address, for what only a PCI function has; for a mediated device, an error that says
     * {@code operation} needs one.
     */
    public PciAddress requirePci(String operation) {
        if (pci == null) {
            throw new VfioException(operation + " needs a PCI function, and " + this + " is a mediated device "
                    + "(/sys/bus/mdev/devices/" + mdev + "): it has no PCI address, bus or slot of its own");
        }
        return pci;
    }

    /** The PCI address; null for a mediated device. */
    public PciAddress pciOrNull() {
        return pci;
    }

    /** The mediated device's UUID; null for a PCI function. */
    public UUID mdevOrNull() {
        return mdev;
    }

    /** Where sysfs keeps the device, relative to the sysfs root: {@code bus/pci/devices/BDF} or {@code bus/mdev/devices/UUID}. */
    String sysfsPath() {
        return pci != null ? "bus/pci/devices/" + pci : "bus/mdev/devices/" + mdev;
    }

    /** What a message calls it: the PCI address, or "mdev UUID". */
    public String describe() {
        return pci != null ? pci.toString() : "mdev " + mdev;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof VfioDeviceName n && Objects.equals(pci, n.pci) && Objects.equals(mdev, n.mdev);
    }

    @Override
    public int hashCode() {
        return Objects.hash(pci, mdev);
    }

    /** The name VFIO takes: {@code 0000:01:00.0}, or the UUID in lower case. */
    @Override
    public String toString() {
        return pci != null ? pci.toString() : mdev.toString();
    }
}
