package io.jvfio.vmm.options;

import io.jvfio.vmm.pci.PciAddress;
import io.jvfio.vmm.pci.PciDevFn;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The value types of option properties, with QEMU's syntax for each. */
public enum PropertyType {

    /** Any text. */
    STRING("str") {
        @Override
        Object parse(Property p, String raw) {
            return raw;
        }
    },

    /** {@code on/off}, {@code true/false}, {@code yes/no}. */
    BOOL("bool") {
        @Override
        Object parse(Property p, String raw) {
            switch (raw) {
                case "on", "true", "yes":
                    return Boolean.TRUE;
                case "off", "false", "no":
                    return Boolean.FALSE;
                default:
                    throw p.expects("'on' or 'off'");
            }
        }

        @Override
        String format(Object value) {
            return (Boolean) value ? "on" : "off";
        }
    },

    /** An integer in decimal or {@code 0x} hex, within the property's bounds. */
    INTEGER("int") {
        @Override
        Object parse(Property p, String raw) {
            long v;
            try {
                if (raw.startsWith("0x") || raw.startsWith("0X")) {
                    v = Long.parseUnsignedLong(raw.substring(2), 16);
                } else {
                    v = Long.parseLong(raw);
                }
            } catch (NumberFormatException e) {
                throw p.expects("an integer (decimal, or hexadecimal with 0x)");
            }
            if (Long.compareUnsigned(v - p.min(), p.max() - p.min()) > 0) {
                throw p.expects("an integer from " + bound(p.min()) + " to " + bound(p.max()));
            }
            return v;
        }

        @Override
        String typeName(Property p) {
            if (p.min() == 0) {
                if (p.max() == 0xffL) {
                    return "uint8";
                } else if (p.max() == 0xffffL) {
                    return "uint16";
                } else if (p.max() <= 0xffffffffL && p.max() > 0) {
                    return "uint32";
                } else if (p.max() == -1L) {
                    return "uint64";
                }
            }
            return "int";
        }

        @Override
        String format(Object value) {
            return Long.toUnsignedString((Long) value);
        }
    },

    /** A byte count: a number with an optional suffix B, K, M, G, T, P, E (powers of 1024). */
    SIZE("size") {
        private final Pattern form = Pattern.compile("(\\d+(?:\\.\\d+)?)([bBkKmMgGtTpPeE]?)");

        @Override
        Object parse(Property p, String raw) {
            if (raw.startsWith("0x") || raw.startsWith("0X")) {
                try {
                    return Long.parseUnsignedLong(raw.substring(2), 16);
                } catch (NumberFormatException e) {
                    throw sizeError(p);
                }
            }
            Matcher m = form.matcher(raw);
            if (!m.matches()) {
                throw sizeError(p);
            }
            String suffix = m.group(2);
            long unit = suffix.isEmpty() ? p.sizeUnit() : unitOf(Character.toUpperCase(suffix.charAt(0)));
            BigDecimal bytes = new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(unit));
            if (bytes.stripTrailingZeros().scale() > 0) {
                throw p.expects("a whole number of bytes, not " + raw);
            }
            BigInteger whole = bytes.toBigIntegerExact();
            if (whole.bitLength() > 64) {
                throw p.expects("a size below 2^64");
            }
            return whole.longValue();
        }

        private long unitOf(char c) {
            return switch (c) {
                case 'B' -> 1L;
                case 'K' -> 1L << 10;
                case 'M' -> 1L << 20;
                case 'G' -> 1L << 30;
                case 'T' -> 1L << 40;
                case 'P' -> 1L << 50;
                default -> 1L << 60;
            };
        }

        private OptionsException sizeError(Property p) {
            return p.expects("a size: a number with an optional suffix B, K, M, G or T (e.g. 512M)");
        }

        @Override
        String format(Object value) {
            long v = (Long) value;
            String[] units = {"", "K", "M", "G", "T", "P", "E"};
            int u = 0;
            while (u < units.length - 1 && v != 0 && (v & 1023) == 0) {
                v >>>= 10;
                u++;
            }
            return Long.toUnsignedString(v) + units[u];
        }
    },

    /** Guest PCI placement {@code SLOT[.FN]} in hex. */
    PCI_DEVFN("pci-devfn") {
        @Override
        Object parse(Property p, String raw) {
            PciDevFn d = PciDevFn.tryParse(raw);
            if (d == null) {
                throw p.expects("a PCI slot.function (e.g. " + p.name()
                        + "=04.0: slot 00-1f, function 0-7, in hex)");
            }
            return d;
        }
    },

    /** A host PCI address {@code [DDDD:]BB:DD.F}. */
    PCI_HOST_ADDRESS("pci-host-address") {
        @Override
        Object parse(Property p, String raw) {
            PciAddress a = PciAddress.tryParse(raw);
            if (a == null) {
                throw p.expects("a PCI host address [DDDD:]BB:DD.F (e.g. " + p.name()
                        + "=0000:01:00.0, as lspci -D prints it)");
            }
            return a;
        }
    },

    /** One word out of a fixed set. */
    ENUM("enum") {
        @Override
        Object parse(Property p, String raw) {
            if (!p.choices().contains(raw)) {
                throw new OptionsException("Parameter '" + p.name() + "' does not accept value '" + raw + "' (use "
                        + String.join(" or ", p.choices()) + ")");
            }
            return raw;
        }

        @Override
        String typeName(Property p) {
            return String.join("|", p.choices());
        }
    };

    private final String typeName;

    PropertyType(String typeName) {
        this.typeName = typeName;
    }

    /** Converts the text of a value, or throws an {@link OptionsException} naming the property. */
    abstract Object parse(Property p, String raw);

    /** The name shown in help, as in {@code host=<pci-host-address>}. */
    String typeName(Property p) {
        return typeName;
    }

    /** A value in the syntax it is written in. */
    String format(Object value) {
        return String.valueOf(value);
    }

    private static String bound(long v) {
        // IDs and masks read better in hex; counts in decimal.
        boolean allOnes = v != 0 && (v & (v + 1)) == 0 && Long.compareUnsigned(v, 0xff) >= 0;
        return allOnes ? "0x" + Long.toHexString(v).toLowerCase(Locale.ROOT) : Long.toString(v);
    }
}
