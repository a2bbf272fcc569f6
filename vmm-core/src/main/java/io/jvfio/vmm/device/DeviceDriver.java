package io.jvfio.vmm.device;

import io.jvfio.vmm.options.OptionValues;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.options.Property;

import java.util.List;

/**
 * A device model that {@code -device NAME,...} can create, found with {@link java.util.ServiceLoader}
 * so that vmm-core never depends on the modules that implement devices (vfio-passthrough registers
 * {@code vfio-pci} and {@code vfio-user-pci}). Implementations list their properties; the registry
 * checks every option against them before the driver sees it.
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
}
