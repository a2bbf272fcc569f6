package io.jvfio.vmm.options;

import java.util.List;

/**
 * One property an option accepts ({@code host}, {@code addr}, {@code x-msg-timeout}): its type,
 * its default (null when unset means "not given"), a one-line help, and for integers and enums
 * what values are allowed.
 */
public record Property(String name, PropertyType type, Object defaultValue, String help, long min, long max,
                       List<String> choices, long sizeUnit) {

    public Property {
        choices = List.copyOf(choices);
    }

    public static Property string(String name, String help) {
        return new Property(name, PropertyType.STRING, null, help, 0, 0, List.of(), 1);
    }

    public static Property bool(String name, boolean defaultValue, String help) {
        return new Property(name, PropertyType.BOOL, defaultValue, help, 0, 0, List.of(), 1);
    }

    /** An integer from {@code min} to {@code max}; {@code defaultValue} null for none. */
    public static Property integer(String name, long min, long max, Long defaultValue, String help) {
        return new Property(name, PropertyType.INTEGER, defaultValue, help, min, max, List.of(), 1);
    }

    public static Property uint8(String name, Long defaultValue, String help) {
        return integer(name, 0, 0xff, defaultValue, help);
    }

    public static Property uint16(String name, Long defaultValue, String help) {
        return integer(name, 0, 0xffff, defaultValue, help);
    }

    public static Property uint32(String name, Long defaultValue, String help) {
        return integer(name, 0, 0xffffffffL, defaultValue, help);
    }

    /** A size; a number without suffix counts in units of {@code unit} bytes (QEMU's {@code -m} counts MiB). */
    public static Property size(String name, long unit, Long defaultValue, String help) {
        return new Property(name, PropertyType.SIZE, defaultValue, help, 0, 0, List.of(), unit);
    }

    public static Property pciDevFn(String name, String help) {
        return new Property(name, PropertyType.PCI_DEVFN, null, help, 0, 0, List.of(), 1);
    }

    public static Property pciHostAddress(String name, String help) {
        return new Property(name, PropertyType.PCI_HOST_ADDRESS, null, help, 0, 0, List.of(), 1);
    }

    public static Property choice(String name, List<String> choices, String defaultValue, String help) {
        return new Property(name, PropertyType.ENUM, defaultValue, help, 0, 0, choices, 1);
    }

    /** Converts {@code raw} to this property's type, or throws an error that names the property. */
    public Object parse(String raw) {
        return type.parse(this, raw);
    }

    /** {@code Parameter 'name' expects <what>}: QEMU's wording for a bad value. */
    OptionsException expects(String what) {
        return new OptionsException("Parameter '" + name + "' expects " + what);
    }

    /** The type as help shows it: {@code str}, {@code bool}, {@code uint32}, {@code pci-devfn}... */
    public String typeName() {
        return type.typeName(this);
    }

    /** A value of this property in option syntax. */
    public String format(Object value) {
        return type.format(value);
    }
}
