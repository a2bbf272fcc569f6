package io.jvfio.memory;

import io.jvfio.vmm.linux.Capabilities;
import io.jvfio.vmm.linux.ProcessStatus;
import io.jvfio.vmm.linux.ResourceLimit;

/**
 * VFIO Type1 pins every page it maps for DMA and charges it to the process's RLIMIT_MEMLOCK (unless
 * the process has CAP_IPC_LOCK). When guest RAM would not fit, the kernel answers the map with
 * ENOMEM, which tells a user nothing; this check says it first, with the numbers and the fix.
 */
public final class MemlockLimit {

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
        return Capabilities.effective().has(Capabilities.CAP_IPC_LOCK);
    }

    /** VmLck: what this process has locked already (VFIO's pins included). */
    static long lockedBytes() {
        return ProcessStatus.lockedBytes();
    }
}
