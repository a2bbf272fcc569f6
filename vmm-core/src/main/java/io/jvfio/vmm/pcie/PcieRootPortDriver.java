package io.jvfio.vmm.pcie;

import io.jvfio.vmm.device.DeviceCategory;
import io.jvfio.vmm.device.DeviceConfig;
import io.jvfio.vmm.device.DeviceDriver;
import io.jvfio.vmm.device.MachineContext;
import io.jvfio.vmm.device.PciDeviceProperties;
import io.jvfio.vmm.options.OptionValues;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.options.Property;
import io.jvfio.vmm.pci.MsiSignal;
import io.jvfio.vmm.pci.PciFunction;

import java.util.ArrayList;
import java.util.List;

/**
 * {@code -device pcie-root-port,id=rp1,chassis=1,slot=1[,addr=..][,bus=pcie.0]}: a PCI Express Root
 * Port ({@link PcieRootPort}) on bus 0, whose id names its secondary bus for {@code bus=} of the device
 * behind it. The machine provides the {@link MsiSignal} its hotplug interrupt goes through and the
 * {@link PcieHotplugHandler} that takes a device the guest turned off away.
 */
public final class PcieRootPortDriver implements DeviceDriver {

    public static final String NAME = "pcie-root-port";

    public static final Property CHASSIS = Property.uint8("chassis", 0L, "Chassis number, for the guest's slot names");
    public static final Property SLOT = Property.uint16("slot", 0L,
            "Physical slot number in Slot Capabilities (0-8191)");

    private static final List<Property> PROPERTIES;

    static {
        List<Property> all = new ArrayList<>(PciDeviceProperties.ALL);
        all.add(CHASSIS);
        all.add(SLOT);
        PROPERTIES = List.copyOf(all);
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String description() {
        return "PCI Express Root Port with native hotplug";
    }

    @Override
    public DeviceCategory category() {
        return DeviceCategory.BRIDGE;
    }

    @Override
    public List<Property> properties() {
        return PROPERTIES;
    }

    @Override
    public void validate(OptionValues values) {
        long slot = values.number(SLOT.name());
        if (slot > 0x1FFF) {
            throw new OptionsException("pcie-root-port: slot=" + slot
                    + " does not fit the 13-bit Physical Slot Number; give slot=0-8191");
        }
    }

    @Override
    public PciFunction create(DeviceConfig config, MachineContext machine) {
        return new PcieRootPort(config.id() != null ? config.id() : "(no id)",
                (int) config.properties().number(CHASSIS.name()), (int) config.properties().number(SLOT.name()),
                machine.require(MsiSignal.class), machine.require(PcieHotplugHandler.class));
    }
}
