package com.example.hello;

import io.jvfio.vmm.device.DeviceConfig;
import io.jvfio.vmm.device.DeviceDriver;
import io.jvfio.vmm.device.MachineContext;
import io.jvfio.vmm.device.PciDeviceProperties;
import io.jvfio.vmm.options.OptionValues;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.options.Property;
import io.jvfio.vmm.pci.PciFunction;

import java.util.ArrayList;
import java.util.List;

/**
 * A device driver written outside jvfio, as a third party would: it uses only vmm-core's API, lives in
 * its own jar, and is registered by that jar's META-INF/services/io.jvfio.vmm.device.DeviceDriver.
 * ThirdPartyDriverIT compiles and jars it at test time; Maven never compiles it with jvfio's sources.
 */
public final class HelloDriver implements DeviceDriver {

    static final Property GREETING = Property.uint32("greeting", 0x6f6c6c65L,
            "The value every read of BAR0 returns (non-zero)");

    @Override
    public String name() {
        return "hello";
    }

    @Override
    public String description() {
        return "A PCI function from a third-party jar that says hello";
    }

    @Override
    public List<Property> properties() {
        List<Property> all = new ArrayList<>(PciDeviceProperties.ALL);
        all.add(GREETING);
        return all;
    }

    @Override
    public void validate(OptionValues values) {
        if (values.number(GREETING.name()) == 0) {
            throw new OptionsException("hello: greeting=0 says nothing; give a non-zero greeting");
        }
    }

    @Override
    public PciFunction create(DeviceConfig config, MachineContext machine) {
        HelloFunction f = new HelloFunction(config.id(), (int) config.properties().number(GREETING.name()),
                machine.space());
        machine.onClose(f);
        return f;
    }
}
