package io.jvfio.vfio.passthrough.driver;

import io.jvfio.vfio.passthrough.VfioDeviceProperties;
import io.jvfio.vmm.device.DeviceDriver;
import io.jvfio.vmm.options.Property;

import java.util.ArrayList;
import java.util.List;

/**
 * What {@code vfio-pci} and {@code vfio-user-pci} have in common: one device model behind two
 * transports, so the same properties ({@link VfioDeviceProperties#common()}) plus the few that say
 * where the device is.
 */
public abstract class PassthroughDriver implements DeviceDriver {

    private final String name;
    private final String description;
    private final List<Property> properties;

    protected PassthroughDriver(String name, String description, Property... own) {
        this.name = name;
        this.description = description;
        List<Property> all = new ArrayList<>(VfioDeviceProperties.common());
        all.addAll(List.of(own));
        this.properties = List.copyOf(all);
    }

    @Override
    public final String name() {
        return name;
    }

    @Override
    public final String description() {
        return description;
    }

    @Override
    public final List<Property> properties() {
        return properties;
    }
}
