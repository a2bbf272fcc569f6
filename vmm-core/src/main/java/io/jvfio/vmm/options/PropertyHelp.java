package io.jvfio.vmm.options;

import java.util.Comparator;
import java.util.List;

/** Property listings in the form of QEMU's {@code -device DRIVER,help}. */
public final class PropertyHelp {

    private PropertyHelp() {
    }

    /**
     * {@code title} followed by one line per property, sorted by name:
     * {@code   host=<pci-host-address>   - Host PCI address of the device (default: ...)}.
     */
    public static String render(String title, List<Property> properties) {
        StringBuilder sb = new StringBuilder(title).append('\n');
        properties.stream().sorted(Comparator.comparing(Property::name)).forEach(p -> {
            String left = "  " + p.name() + "=<" + p.typeName() + ">";
            sb.append(left);
            sb.append(" ".repeat(Math.max(1, 28 - left.length())));
            sb.append("- ").append(p.help());
            if (p.defaultValue() != null) {
                sb.append(" (default: ").append(p.format(p.defaultValue())).append(')');
            }
            sb.append('\n');
        });
        return sb.toString();
    }
}
