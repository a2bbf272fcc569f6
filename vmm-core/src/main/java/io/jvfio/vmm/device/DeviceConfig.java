package io.jvfio.vmm.device;

import io.jvfio.vmm.options.OptionValues;

/**
 * One checked {@code -device} option: the driver, the device's {@code id} (null if none was given)
 * and its property values.
 */
public record DeviceConfig(DeviceDriver driver, String id, OptionValues properties) {

    /** The option in canonical form, e.g. {@code vfio-pci,id=nic0,host=0000:01:00.0}. */
    @Override
    public String toString() {
        String props = properties.toString();
        return driver.name() + (id != null ? ",id=" + id : "") + (props.isEmpty() ? "" : "," + props);
    }
}
