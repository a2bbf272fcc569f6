package io.jvfio.vmm.pci;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A host PCI address, domain:bus:device.function, as sysfs and {@code lspci -D} write it
 * ({@code 0000:01:00.0}). This is how a user names the device to pass through.
 */
public record PciAddress(int domain, int bus, int device, int function) implements Comparable<PciAddress> {

    private static final Pattern FORM =
            Pattern.compile("(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\\.([0-7])");

    public PciAddress {
        if (domain < 0 || domain > 0xffff || bus < 0 || bus > 0xff || device < 0 || device > 0x1f
                || function < 0 || function > 7) {
            throw new IllegalArgumentException(String.format(
                    "not a PCI address: domain %x, bus %x, device %x, function %x", domain, bus, device, function));
        }
    }

    /**
     * Parses {@code [DDDD:]BB:DD.F} in hex; a missing domain is 0000. Returns null if {@code text}
     * does not have that form or a part is out of range (device above 1f).
     */
    public static PciAddress tryParse(String text) {
        Matcher m = FORM.matcher(text);
        if (!m.matches()) {
            return null;
        }
        int domain = m.group(1) == null ? 0 : Integer.parseInt(m.group(1), 16);
        int device = Integer.parseInt(m.group(3), 16);
        if (device > 0x1f) {
            return null;
        }
        return new PciAddress(domain, Integer.parseInt(m.group(2), 16), device, Integer.parseInt(m.group(4)));
    }

    /** {@code device << 3 | function}, the form the PCI and VFIO ABIs use. */
    public int devfn() {
        return device << 3 | function;
    }

    @Override
    public int compareTo(PciAddress o) {
        return Long.compare(key(), o.key());
    }

    private long key() {
        return ((long) domain << 16) | (bus << 8) | devfn();
    }

    /** The sysfs name, {@code 0000:01:00.0}. */
    @Override
    public String toString() {
        return String.format("%04x:%02x:%02x.%x", domain, bus, device, function);
    }
}
