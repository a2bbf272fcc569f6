package io.jvfio.vmm.options;

import io.jvfio.vmm.pci.PciAddress;
import io.jvfio.vmm.pci.PciDevFn;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The typed values of an option after checking them against its properties: every key known,
 * every value of the right type and range, defaults filled in.
 */
public final class OptionValues {

    /** How an unknown key is reported: as QEMU's qdev does for devices, or as QemuOpts does for other options. */
    public enum UnknownKey {
        /** {@code Property 'vfio-pci.hots' not found}. */
        DEVICE_PROPERTY,
        /** {@code Invalid parameter 'slots'}. */
        PARAMETER
    }

    private final String owner;
    private final Map<String, Property> properties;
    private final Map<String, Object> values;
    private final Set<String> given;

    private OptionValues(String owner, Map<String, Property> properties, Map<String, Object> values,
            Set<String> given) {
        this.owner = owner;
        this.properties = properties;
        this.values = values;
        this.given = given;
    }

    /**
     * Checks the items of {@code options} (except the keys in {@code consumed}, which the caller
     * handles, such as {@code driver} and {@code id}) against {@code properties}.
     */
    public static OptionValues bind(String owner, List<Property> properties, OptionString options,
            Set<String> consumed, UnknownKey style) {
        Map<String, Property> byName = new LinkedHashMap<>();
        for (Property p : properties) {
            byName.put(p.name(), p);
        }
        Map<String, Object> values = new LinkedHashMap<>();
        Set<String> given = new LinkedHashSet<>();
        for (OptionString.Item item : options.items()) {
            if (consumed.contains(item.key())) {
                continue;
            }
            Property p = byName.get(item.key());
            if (p == null) {
                throw unknown(owner, item.key(), byName.keySet(), style);
            }
            Object value;
            if (item.value() == null) {
                if (p.type() != PropertyType.BOOL) {
                    throw new OptionsException("Expected '=' after parameter '" + item.key() + "'");
                }
                value = Boolean.TRUE; // QEMU's short form: "multifunction" means multifunction=on
            } else {
                value = p.parse(item.value());
            }
            values.put(p.name(), value);
            given.add(p.name());
        }
        for (Property p : properties) {
            if (!values.containsKey(p.name()) && p.defaultValue() != null) {
                values.put(p.name(), p.defaultValue());
            }
        }
        return new OptionValues(owner, byName, values, given);
    }

    private static OptionsException unknown(String owner, String key, Set<String> known, UnknownKey style) {
        String suggestion = closest(key, known);
        String message = style == UnknownKey.DEVICE_PROPERTY
                ? "Property '" + owner + "." + key + "' not found"
                : "Invalid parameter '" + key + "'";
        String fix = style == UnknownKey.DEVICE_PROPERTY ? "-device " + owner + ",help lists them"
                : "valid: " + String.join(", ", known);
        return new OptionsException(message + " (" + (suggestion != null ? "did you mean '" + suggestion + "'? " : "")
                + fix + ")");
    }

    /** The known name within edit distance 2 of {@code key}, if exactly one is closest. */
    static String closest(String key, Set<String> known) {
        String best = null;
        int bestDistance = 3;
        for (String k : known) {
            int d = distance(key, k);
            if (d < bestDistance) {
                best = k;
                bestDistance = d;
            }
        }
        return best;
    }

    private static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    /** The option these values belong to: a driver name such as {@code vfio-pci}, or {@code -m}. */
    public String owner() {
        return owner;
    }

    /** True if the user gave {@code name} (rather than it taking its default). */
    public boolean isGiven(String name) {
        property(name);
        return given.contains(name);
    }

    /** True if {@code name} has a value, given or default. */
    public boolean has(String name) {
        property(name);
        return values.containsKey(name);
    }

    public String string(String name) {
        return (String) get(name, PropertyType.STRING, PropertyType.ENUM);
    }

    public boolean bool(String name) {
        Object v = get(name, PropertyType.BOOL);
        return v != null && (Boolean) v;
    }

    /** An integer or size value; throws if it has neither a value nor a default. */
    public long number(String name) {
        Object v = get(name, PropertyType.INTEGER, PropertyType.SIZE);
        if (v == null) {
            throw new IllegalStateException(owner + "." + name + " has no value and no default");
        }
        return (Long) v;
    }

    public PciDevFn pciDevFn(String name) {
        return (PciDevFn) get(name, PropertyType.PCI_DEVFN);
    }

    public PciAddress pciAddress(String name) {
        return (PciAddress) get(name, PropertyType.PCI_HOST_ADDRESS);
    }

    private Object get(String name, PropertyType... types) {
        Property p = property(name);
        for (PropertyType t : types) {
            if (p.type() == t) {
                return values.get(name);
            }
        }
        throw new IllegalArgumentException(owner + "." + name + " is of type " + p.typeName());
    }

    private Property property(String name) {
        Property p = properties.get(name);
        if (p == null) {
            throw new IllegalArgumentException(owner + " has no property " + name);
        }
        return p;
    }

    /** Every value, given or default, in property order. */
    public Map<String, Object> values() {
        return Collections.unmodifiableMap(values);
    }

    /** The given values in option syntax, e.g. {@code host=0000:01:00.0,addr=04.0}. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        for (String name : given) {
            if (sb.length() > 0) {
                sb.append(',');
            }
            sb.append(name).append('=').append(properties.get(name).format(values.get(name)).replace(",", ",,"));
        }
        return sb.toString();
    }
}
