package io.jvfio.vfio.passthrough;

import io.jvfio.vfio.DmaAddressing;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.migration.DeviceMigration;
import io.jvfio.vfio.migration.MigratableBackend;
import io.jvfio.vfio.migration.MigrationData;
import io.jvfio.vfio.migration.MigrationState;
import io.jvfio.vmm.migration.MigrationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The device's side of a passed-through device's migration: its back end's VFIO migration v2
 * ({@link MigratableBackend#migration}), probed once, walked through the states QEMU's vfio migration walks
 * (RUNNING and STOP while the machine runs and stops, STOP_COPY to read the state out, RESUMING to
 * load it), or the reason it cannot be, in QEMU's words where QEMU has them (hw/vfio/migration.c).
 */
final class DeviceSideMigration {

    private static final Logger LOG = LoggerFactory.getLogger(PassthroughDevice.class);

    private final String name;
    private final VfioBackend backend;
    // Probed once, the first time it is needed: the device's migration, or why there is none.
    private boolean probed;
    private DeviceMigration migration;
    private String blocker;

    DeviceSideMigration(String name, VfioBackend backend) {
        this.name = name;
        this.backend = backend;
    }

    /** Why the device cannot migrate, naming it; null if it can. */
    synchronized String blocker() {
        probe();
        if (blocker == null && backend.failure() != null) {
            return name + ": its device is gone (" + backend.failure() + ")";
        }
        return blocker;
    }

    private void probe() {
        if (probed) {
            return;
        }
        probed = true;
        if (backend.dmaAddressing() != DmaAddressing.GUEST_PHYSICAL) {
            blocker = name + ": VFIO migration is not supported in no-IOMMU mode: the device's DMA addresses are "
                    + "host physical addresses of pinned guest RAM, which neither exist on another machine nor can be "
                    + "tracked for writes";
            return;
        }
        try {
            migration = backend instanceof MigratableBackend m ? m.migration() : null;
            if (migration == null) {
                blocker = name + ": VFIO migration is not supported by its back end (" + backend.name() + " has no "
                        + "VFIO migration interface)";
            }
        } catch (VfioException.MigrationNotSupported e) {
            // QEMU says "VFIO migration is not supported in kernel" for ENOTTY; the device, not the kernel,
            // lacks it (a vfio-user server has no kernel at all), so the reason names the device, and the
            // back end's words follow.
            blocker = name + ": VFIO migration is not supported by the device (" + e.getMessage() + ")";
        } catch (VfioException e) {
            blocker = name + ": Migration couldn't be initialized for VFIO device: " + e.getMessage();
        }
    }

    /** The device's migration, or the blocker as the error. */
    private synchronized DeviceMigration require() {
        String why = blocker();
        if (why != null) {
            throw new MigrationException(why);
        }
        return migration;
    }

    /** STOP: no DMA, no interrupts (VFIO's STOP; QEMU's vfio_vmstate_change on the VM stopping). */
    void stop() {
        set(require(), MigrationState.STOP);
    }

    /** RUNNING again (a failed or cancelled migration on the source; the end of a load on the destination). */
    void run() {
        set(require(), MigrationState.RUNNING);
    }

    /** The device's state, read in STOP_COPY to its end; the device is back in STOP after. */
    byte[] save() {
        DeviceMigration m = require();
        MigrationState now = m.state();
        if (now != MigrationState.STOP) {
            throw new MigrationException(name + ": its state is read while it is stopped (pause it first); the "
                    + "device is in " + now);
        }
        byte[] data;
        try (MigrationData saving = m.setState(MigrationState.STOP_COPY)) {
            if (saving == null) {
                throw new MigrationException(name + ": STOP -> STOP_COPY started no data transfer session");
            }
            data = saving.readAll();
        } catch (VfioException e) {
            throw new MigrationException(name + ": reading the device's state failed: " + e.getMessage(), e);
        } finally {
            set(m, MigrationState.STOP);
        }
        return data;
    }

    /**
     * Loads {@code data} into the device: RUNNING (as attached) -> STOP -> RESUMING, the bytes, -> STOP.
     * The device stays stopped, for the VMM's side to be replayed before it runs ({@link #run}). A device
     * that refuses the bytes is reset (VFIO's way out of RESUMING and ERROR) and the refusal thrown.
     */
    void load(byte[] data) {
        DeviceMigration m = require();
        try {
            set(m, MigrationState.STOP);
            try (MigrationData resuming = m.setState(MigrationState.RESUMING)) {
                if (resuming == null) {
                    throw new MigrationException(name + ": STOP -> RESUMING started no data transfer session");
                }
                resuming.write(data);
            }
            set(m, MigrationState.STOP); // RESUMING -> STOP: the device checks and takes what was written
        } catch (VfioException | MigrationException e) {
            try {
                m.reset();
            } catch (RuntimeException suppressed) {
                LOG.warn("{}: resetting the device after a refused load failed: {}", name, suppressed.getMessage());
            }
            throw new MigrationException(name + ": the device did not take the stream's state: " + e.getMessage(), e);
        }
    }

    private void set(DeviceMigration m, MigrationState to) {
        try {
            if (m.state() != to) {
                m.setState(to);
            }
        } catch (VfioException e) {
            throw new MigrationException(name + ": " + e.getMessage(), e);
        }
    }
}
