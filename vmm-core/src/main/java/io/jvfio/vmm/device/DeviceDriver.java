package io.jvfio.vmm.device;

import io.jvfio.vmm.options.OptionValues;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.options.Property;
import io.jvfio.vmm.pci.PciFunction;

import java.util.List;

/**
 * A device model that {@code -device NAME,...} can create, found with {@link java.util.ServiceLoader}
 * so that vmm-core never depends on the modules that implement devices (vfio-passthrough registers
 * {@code vfio-pci} and {@code vfio-user-pci}). Implementations list their properties; the registry
 * checks every option against them before the driver sees it, and {@link AttachedDevices} does the
 * rest once {@link #create} has made the device: it places the function on the bus at its
 * {@code addr=}, wires its INTx pin, and closes what the driver handed to
 * {@link MachineContext#onClose} when the machine goes. A driver in its own jar is found the same
 * way as the built-in ones: a {@code META-INF/services/io.jvfio.vmm.device.DeviceDriver} file naming
 * its class, and the jar on the class path.
 */
public interface DeviceDriver {

    /** The name {@code -device} takes, e.g. {@code vfio-pci}. */
    String name();

    /** One line for {@code -device help}. */
    String description();

    default DeviceCategory category() {
        return DeviceCategory.MISC;
    }

    /** The bus the device plugs into, as {@code -device help} shows it. */
    default String bus() {
        return "PCI";
    }

    /** Every property the driver accepts, with type, default and help. */
    List<Property> properties();

    /**
     * Checks rules that span properties (one of {@code host} or {@code sysfsdev}); the values are
     * already typed and in range. Throws an {@link OptionsException} that says what to write.
     */
    default void validate(OptionValues values) {
    }

    /**
     * Creates the device {@code config} describes, whose options {@link #validate} has already
     * accepted; {@code machine} offers what the device may need (the address space its BARs decode in,
     * services such as guest memory, and per-VM shared resources). Whatever must be closed with the
     * machine goes to {@link MachineContext#onClose}, the function itself included if it holds any
     * resource; if this throws, what it handed over so far is closed at once. Throws the back end's
     * exception with a message that names the problem and the fix.
     */
    PciFunction create(DeviceConfig config, MachineContext machine);
}
