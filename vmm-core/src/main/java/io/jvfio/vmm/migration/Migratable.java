package io.jvfio.vmm.migration;

/**
 * A part of a machine whose state moves with it in a live migration. The source pauses it once the
 * guest's vCPUs are stopped ({@link #pause}), takes its {@link #snapshot}, and either leaves it paused
 * (the migration completed: the destination runs the guest now) or {@link #resume}s it (the migration
 * failed or was cancelled). The destination attaches the same kind of part from its own command line
 * and {@link #restore}s the bytes into it before its vCPUs run.
 */
public interface Migratable {

    /**
     * Why this part cannot migrate, in words for the user that name it and the reason (QEMU's migration
     * blocker: {@code migrate} fails with them); null when it can.
     */
    default String migrationBlocker() {
        return null;
    }

    /**
     * What kind of part this is, as the destination must match it ({@code "vfio-user-pci 1234:11e8"}): the
     * stream's and the destination's must be equal, or the load is refused saying what differs.
     */
    String stateId();

    /**
     * Stops it for the snapshot, after the vCPUs stopped: a device no longer writes guest memory and no
     * longer interrupts (VFIO's STOP). Idempotent. By default nothing: a part that runs nothing of its own
     * (an interrupt controller, a bridge or root port, KVM's in-kernel state) changes only when a vCPU or a
     * device acts on it, and those are stopped by then.
     */
    default void pause() {
    }

    /** Undoes {@link #pause} on the source, after a failed or cancelled migration: it runs again. */
    default void resume() {
    }

    /** Its state, taken while paused; {@link #restore} on the destination takes these bytes. */
    byte[] snapshot();

    /**
     * Loads a {@link #snapshot} on the destination, before the vCPUs run, and leaves the part running.
     *
     * @throws MigrationException if the bytes are not a state this part can take (another version,
     *                            another device), saying what differs
     */
    void restore(byte[] state);

    /**
     * The log of guest pages this part writes by DMA, for RAM pre-copy; null for a part that writes no
     * guest memory of its own or cannot log it (the stream then sends the whole of guest RAM again
     * while the machine is stopped, which is correct but lengthens the downtime).
     */
    default DirtyLog dirtyLog() {
        return null;
    }
}
