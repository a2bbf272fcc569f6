package io.jvfio.memory;

import io.jvfio.vmm.linux.ResourceLimit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * VFIO Type1 pins every page it maps for DMA and charges it to the process's RLIMIT_MEMLOCK (unless
 * the process has CAP_IPC_LOCK). When guest RAM would not fit, the kernel answers the map with
 * ENOMEM, which tells a user nothing; this check says it first, with the numbers and the fix.
 */
public final class MemlockLimit {

    /** CAP_IPC_LOCK's bit in the capability sets (linux/capability.h). */
    static final int CAP_IPC_LOCK = 14;

    private MemlockLimit() {
    }

    /** Throws if this process cannot pin {@code bytes} more for {@code purpose}. */
    public static void requirePinnable(long bytes, String purpose) {
        check(bytes, purpose, ResourceLimit.memlock(), lockedBytes(), hasCapIpcLock());
    }

    /** The decision, given the limit, what is already locked, and whether CAP_IPC_LOCK lifts the limit. */
    static void check(long bytes, String purpose, ResourceLimit limit, long alreadyLocked, boolean capIpcLock) {
        if (capIpcLock || limit.allows(alreadyLocked + bytes)) {
            return;
        }
        long neededKib = (alreadyLocked + bytes + 1023) >> 10;
        String hard = limit.hard() == ResourceLimit.UNLIMITED ? "unlimited" : Sizes.format(limit.hard());
        throw new GuestMemoryException("cannot pin " + Sizes.format(bytes) + " of guest RAM for " + purpose
                + ": RLIMIT_MEMLOCK allows " + Sizes.format(limit.soft()) + " (hard limit " + hard + ")"
                + (alreadyLocked > 0 ? " and " + Sizes.format(alreadyLocked) + " is locked already" : "")
                + "; raise it (ulimit -l " + neededKib + " in the shell that starts jvfio, or LimitMEMLOCK= in its "
                + "systemd unit) or run jvfio with CAP_IPC_LOCK");
    }

    /** True if CAP_IPC_LOCK is in this process's effective capabilities. */
    static boolean hasCapIpcLock() {
        String eff = statusField("CapEff:");
        return eff != null && (Long.parseUnsignedLong(eff, 16) & (1L << CAP_IPC_LOCK)) != 0;
    }

    /** VmLck: what this process has locked already (VFIO's pins included). */
    static long lockedBytes() {
        String v = statusField("VmLck:");
        return v == null ? 0 : Long.parseLong(v.split("\\s+")[0]) << 10;
    }

    private static String statusField(String name) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(name)) {
                    return line.substring(name.length()).trim();
                }
            }
            return null;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
