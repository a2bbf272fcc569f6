package io.jvfio.vfio.passthrough.driver;

import io.jvfio.irq.InterruptRouter;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vfio.passthrough.PassthroughDevice;
import io.jvfio.vfio.passthrough.PassthroughOptions;
import io.jvfio.vfio.passthrough.VfioDeviceProperties;
import io.jvfio.vmm.device.DeviceConfig;
import io.jvfio.vmm.device.DeviceDriver;
import io.jvfio.vmm.device.MachineContext;
import io.jvfio.vmm.options.Property;

import java.util.ArrayList;
import java.util.List;

/**
 * What {@code vfio-pci} and {@code vfio-user-pci} have in common: one device model behind two
 * transports, so the same properties ({@link VfioDeviceProperties#common()}) plus the few that say
 * where the device is. Each opens its back end in {@link #create}; the model over it is built here.
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

    /**
     * The device model over {@code backend}, which the caller has already handed to
     * {@link MachineContext#onClose}: the model is handed over after it, so it is closed first. Its
     * interrupts go through the machine's {@link InterruptRouter}.
     */
    protected final PassthroughDevice model(DeviceConfig config, MachineContext machine, VfioBackend backend,
                                            String what) {
        String name = name() + " " + what + (config.id() != null ? " (" + config.id() + ")" : "");
        PassthroughDevice device = new PassthroughDevice(name, backend, PassthroughOptions.of(config.properties()),
                machine.space(), machine.require(InterruptRouter.class));
        machine.onClose(device);
        return device;
    }
}
