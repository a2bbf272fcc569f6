package io.jvfio.vmm.linux;

import io.jvfio.vmm.linux.jna.LinuxConstants;

/**
 * A set of Linux capabilities, as the kernel shows one in {@code /proc/PID/status} (a hexadecimal
 * mask, bit n for capability n of {@code linux/capability.h}); {@link #effective()} is the set the
 * kernel checks this process's privileged operations against. Checked before such an operation so
 * that a missing capability is one clear error that names it, rather than an EPERM (or, for
 * {@code /proc/self/pagemap}, silently zeroed frame numbers).
 */
public record Capabilities(long mask) {

    /** Lock memory beyond RLIMIT_MEMLOCK (linux/capability.h). */
    public static final int CAP_IPC_LOCK = LinuxConstants.CAP_IPC_LOCK;
    /** Raw I/O; the kernel requires it to open a no-IOMMU VFIO group (linux/capability.h). */
    public static final int CAP_SYS_RAWIO = LinuxConstants.CAP_SYS_RAWIO;
    /** Among much else, page frame numbers in /proc/PID/pagemap (linux/capability.h). */
    public static final int CAP_SYS_ADMIN = LinuxConstants.CAP_SYS_ADMIN;

    /** This process's effective set ({@code CapEff}); empty on a kernel that does not show one. */
    public static Capabilities effective() {
        String eff = ProcessStatus.field("CapEff");
        return eff == null ? new Capabilities(0) : parse(eff);
    }

    /** A mask as {@code /proc/PID/status} writes it, e.g. {@code 000001ffffffffff}. */
    public static Capabilities parse(String hex) {
        String h = hex.trim();
        if (h.isEmpty() || h.length() > 16 || !h.chars().allMatch(c -> Character.digit(c, 16) >= 0)) {
            throw new IllegalArgumentException("'" + hex + "' is not a capability mask (up to 16 hexadecimal digits)");
        }
        return new Capabilities(Long.parseUnsignedLong(h, 16));
    }

    /** True if capability {@code cap} (a bit number, e.g. {@link #CAP_SYS_RAWIO}) is in the set. */
    public boolean has(int cap) {
        if (cap < 0 || cap > 63) {
            throw new IllegalArgumentException("capability " + cap + " is not a bit of the mask");
        }
        return (mask >>> cap & 1) != 0;
    }

    /** The name {@code linux/capability.h} gives the capabilities jvfio checks, else {@code capability N}. */
    public static String name(int cap) {
        return switch (cap) {
            case CAP_IPC_LOCK -> "CAP_IPC_LOCK";
            case CAP_SYS_RAWIO -> "CAP_SYS_RAWIO";
            case CAP_SYS_ADMIN -> "CAP_SYS_ADMIN";
            default -> "capability " + cap;
        };
    }

    @Override
    public String toString() {
        return String.format("%016x", mask);
    }
}
