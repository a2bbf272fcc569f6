package io.jvfio.qmp;

import io.jvfio.JvfioException;
import io.jvfio.machine.VirtualMachine;
import io.jvfio.migration.MigrationControl;
import io.jvfio.vmm.device.AttachedDevices;
import io.jvfio.vmm.device.DeviceConfig;
import io.jvfio.vmm.device.DeviceRegistry;
import io.jvfio.vmm.options.OptionString;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code device_add}, {@code device_del} and the {@code DEVICE_DELETED} event, as QEMU's QMP has them
 * (qapi/qdev.json), over {@link VirtualMachine#hotplug} and {@link VirtualMachine#requestUnplug}.
 *
 * <p>{@code device_add}'s arguments are {@code -device}'s properties as JSON members
 * ({@code {"driver": "vfio-user-pci", "id": "d1", "bus": "rp1", "socket": "/run/edu.sock"}}): each is
 * turned into the option text {@code -device} takes (a string as is, a number as its digits, a boolean
 * as {@code on}/{@code off}, as QEMU's {@code qemu_opts_from_qdict}) and checked by the same
 * {@link DeviceRegistry}, so the errors are {@code -device}'s. {@code device_del} answers {@code {}} at
 * once; {@code DEVICE_DELETED} ({@code {"device": id, "path": "/machine/peripheral/" + id}}) follows when
 * the guest has turned the slot off and the device is released.
 */
final class HotplugCommands {

    private HotplugCommands() {
    }

    static void register(QmpMonitor monitor, VirtualMachine vm, MigrationControl migration) {
        DeviceRegistry registry = DeviceRegistry.load();
        monitor.add(new QmpCommand("device_add", List.of(new QmpCommand.Parameter("driver", "string", false),
                new QmpCommand.Parameter("bus", "string", true), new QmpCommand.Parameter("id", "string", true)),
                a -> {
                    notWhileMigrating(migration, "device_add");
                    return deviceAdd(vm, registry, a);
                }, true));
        monitor.add(new QmpCommand("device_del", List.of(new QmpCommand.Parameter("id", "string", false)), a -> {
            notWhileMigrating(migration, "device_del");
            String id = (String) a.get("id");
            if (vm.devices().find(id) == null) {
                throw new QmpError(QmpError.ErrorClass.DeviceNotFound, "Device '" + id + "' not found");
            }
            try {
                vm.requestUnplug(id);
            } catch (JvfioException e) {
                throw QmpError.generic(e.getMessage());
            }
            return Map.of();
        }));
        vm.onDeviceDeleted(d -> monitor.event("DEVICE_DELETED", deleted(d)));
    }

    /**
     * A migration takes the machine's parts and their dirty logs as they were when it started: a device added
     * or removed meanwhile would be missing from the stream, or gone from under it. QEMU's wording
     * (qdev-monitor.c, qdev_device_add_from_qdict and qmp_device_del: "... not allowed while migrating").
     */
    private static void notWhileMigrating(MigrationControl migration, String command) throws QmpError {
        if (migration.migrating()) {
            throw QmpError.generic(command + " not allowed while migrating");
        }
    }

    private static Object deviceAdd(VirtualMachine vm, DeviceRegistry registry, Map<String, Object> arguments)
            throws QmpError {
        String driver = (String) arguments.get("driver");
        if (!registry.drivers().containsKey(driver)) {
            throw QmpError.generic("'" + driver + "' is not a valid device model name");
        }
        StringBuilder text = new StringBuilder("driver=").append(escape(driver));
        for (Map.Entry<String, Object> e : arguments.entrySet()) {
            if (e.getKey().equals("driver")) {
                continue;
            }
            text.append(',').append(e.getKey()).append('=').append(escape(optionValue(e.getKey(), e.getValue())));
        }
        try {
            DeviceConfig config = registry.configure(OptionString.parse(text.toString(), "driver"));
            vm.hotplug(config);
        } catch (JvfioException e) {
            throw QmpError.generic(e.getMessage());
        }
        return Map.of();
    }

    /** A member's value as option text, as QEMU's qemu_opts_from_qdict converts it. */
    private static String optionValue(String key, Object value) throws QmpError {
        if (value instanceof String s) {
            return s;
        } else if (value instanceof Boolean b) {
            return b ? "on" : "off";
        } else if (value instanceof QmpJson.Number n) {
            return n.text();
        }
        throw QmpError.generic("Invalid parameter type for '" + key + "', expected: string, number or boolean");
    }

    /** QemuOpts' escape: a comma in a value is doubled. */
    private static String escape(String value) {
        return value.replace(",", ",,");
    }

    /** DEVICE_DELETED's data: the id (when the device had one) and its QOM path. */
    static Map<String, Object> deleted(AttachedDevices.Attached d) {
        Map<String, Object> data = new LinkedHashMap<>();
        String id = d.config().id();
        if (id != null) {
            data.put("device", id);
            data.put("path", "/machine/peripheral/" + id);
        } else {
            // QEMU numbers anonymous devices in creation order; jvfio names the driver instead.
            data.put("path", "/machine/peripheral-anon/" + d.config().driver().name());
        }
        return data;
    }
}
