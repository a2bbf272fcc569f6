package io.jvfio.vmm.pci;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where a device sits on the guest's PCI bus: slot (device number, 0-31) and function (0-7), as
 * QEMU's {@code addr=SLOT[.FN]} gives it in hex ({@code addr=04.0}, {@code addr=1f.7}).
 */
public record PciDevFn(int slot, int function) {

    private static final Pattern FORM = Pattern.compile("(?:0[xX])?([0-9a-fA-F]{1,2})(?:\\.([0-7]))?");

    public PciDevFn {
        if (slot < 0 || slot > 31 || function < 0 || function > 7) {
            throw new IllegalArgumentException("not a PCI slot.function: slot " + slot + ", function " + function);
        }
    }

    /** Parses {@code SLOT[.FN]} in hex; returns null if {@code text} is not that or is out of range. */
    public static PciDevFn tryParse(String text) {
        Matcher m = FORM.matcher(text);
        if (!m.matches()) {
            return null;
        }
        int slot = Integer.parseInt(m.group(1), 16);
        if (slot > 31) {
            return null;
        }
        return new PciDevFn(slot, m.group(2) == null ? 0 : Integer.parseInt(m.group(2)));
    }

    /** {@code slot << 3 | function}. */
    public int devfn() {
        return slot << 3 | function;
    }

    @Override
    public String toString() {
        return String.format("%02x.%x", slot, function);
    }
}
