package io.jvfio.vmm.device;

import io.jvfio.vmm.options.ObjectId;
import io.jvfio.vmm.options.OptionString;
import io.jvfio.vmm.options.OptionValues;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.options.PropertyHelp;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeMap;

/**
 * The device drivers available to {@code -device}, and the parser of its argument: QemuOpts syntax
 * with {@code driver} implied, the generic {@code id}, and the driver's own properties.
 */
public final class DeviceRegistry {

    /** QEMU's rule for ids: letters, digits, '-', '.', '_', starting with a letter. */

    private final Map<String, DeviceDriver> drivers;

    public DeviceRegistry(List<DeviceDriver> drivers) {
        Map<String, DeviceDriver> byName = new TreeMap<>();
        for (DeviceDriver d : drivers) {
            DeviceDriver clash = byName.put(d.name(), d);
            if (clash != null) {
                throw new IllegalStateException("two device drivers are named " + d.name() + ": "
                        + clash.getClass().getName() + " and " + d.getClass().getName());
            }
        }
        this.drivers = Collections.unmodifiableMap(byName);
    }

    /** Every driver on the class path, registered in {@code META-INF/services/io.jvfio.vmm.device.DeviceDriver}. */
    public static DeviceRegistry load() {
        List<DeviceDriver> found = new ArrayList<>();
        ServiceLoader.load(DeviceDriver.class).forEach(found::add);
        return new DeviceRegistry(found);
    }

    public Map<String, DeviceDriver> drivers() {
        return drivers;
    }

    /**
     * The help that {@code spec} asks for ({@code help}, or {@code DRIVER,help}), or null if it
     * asks for none.
     */
    public String help(OptionString spec) {
        if (!spec.helpRequested()) {
            return null;
        }
        String name = spec.impliedValue();
        if (name == null) {
            return driverList();
        }
        DeviceDriver d = driver(name);
        return PropertyHelp.render(d.name() + " options:", d.properties());
    }

    /** QEMU's {@code -device help}: drivers grouped by category. */
    public String driverList() {
        StringBuilder sb = new StringBuilder();
        for (DeviceCategory c : DeviceCategory.values()) {
            List<DeviceDriver> in = drivers.values().stream().filter(d -> d.category() == c)
                    .sorted(Comparator.comparing(DeviceDriver::name)).toList();
            if (in.isEmpty()) {
                continue;
            }
            if (sb.length() > 0) {
                sb.append('\n');
            }
            sb.append(c.title()).append(":\n");
            for (DeviceDriver d : in) {
                sb.append("name \"").append(d.name()).append("\", bus ").append(d.bus()).append(", desc \"")
                        .append(d.description()).append("\"\n");
            }
        }
        if (sb.length() == 0) {
            sb.append("No device drivers are registered.\n");
        }
        return sb.toString();
    }

    /** Parses and checks one {@code -device} argument. */
    public DeviceConfig parse(String spec) {
        OptionString opts = OptionString.parse(spec, "driver");
        return configure(opts);
    }

    /** Checks an already split {@code -device} argument. */
    public DeviceConfig configure(OptionString opts) {
        String name = opts.impliedValue();
        if (name == null) {
            throw new OptionsException("Parameter 'driver' is missing");
        }
        DeviceDriver d = driver(name);
        String id = null;
        if (opts.has("id")) {
            id = ObjectId.check(opts.value("id"));
        }
        OptionValues values = OptionValues.bind(d.name(), d.properties(), opts, Set.of("driver", "id"),
                OptionValues.UnknownKey.DEVICE_PROPERTY);
        d.validate(values);
        return new DeviceConfig(d, id, values);
    }

    private DeviceDriver driver(String name) {
        DeviceDriver d = drivers.get(name);
        if (d == null) {
            throw new OptionsException("'" + name + "' is not a valid device model name (-device help lists them)");
        }
        return d;
    }
}
