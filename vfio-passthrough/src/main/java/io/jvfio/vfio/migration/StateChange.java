package io.jvfio.vfio.migration;

import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.linux.Errno;

import java.util.List;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * A request to move a device to another migration state, as a {@link DeviceMigration} makes it over
 * either transport: checked against the device's {@link MigrationStateMachine} before it is sent
 * (an impossible request is refused by name, the device untouched), and, when the device fails it,
 * reported with the walk it took and the state the device was left in, read back.
 */
public final class StateChange {

    private StateChange() {
    }

    /**
     * The walk from {@code from} to {@code to} on {@code machine}, or a refusal naming the device,
     * its flags and why, said to happen before asking {@code whom} (the kernel, the server).
     */
    public static List<MigrationState> walk(MigrationStateMachine machine, String device, MigrationState from,
                                            MigrationState to, String whom) {
        try {
            return machine.path(from, to);
        } catch (VfioException e) {
            throw new VfioException(device + " (migration " + MigrationFlags.describe(machine.migrationFlags()) + "): "
                    + e.getMessage() + "; refused before asking " + whom + ", the device stays in " + from, e);
        }
    }

    /**
     * The failure of a change the device refused with {@code errno}: the walk, the errno, {@code why}
     * (what the errno means there, or ""), and where the device is now ({@code now} reads it back;
     * ERROR is left by {@code reset}, e.g. "VFIO_DEVICE_RESET").
     */
    public static VfioException.MigrationFailed failed(String device, MigrationState from, MigrationState to,
                                                       List<MigrationState> walk, int errno, String why,
                                                       Supplier<MigrationState> now, String reset, Throwable cause) {
        String leftIn;
        String left;
        try {
            MigrationState state = now.get();
            leftIn = state.name();
            left = "the device is left in " + state + (state == MigrationState.ERROR ? "; reset it (" + reset
                    + ") to bring it back to RUNNING" : state == from ? ", where it was" : ", part of the way");
        } catch (VfioException unreadable) {
            leftIn = null;
            left = "its state cannot be read afterwards (" + unreadable.getMessage() + "); reset it (" + reset + ")";
        }
        return new VfioException.MigrationFailed(device + ": the migration state change from " + from + " to " + to
                + " (" + walk.stream().map(Enum::name).collect(Collectors.joining(" -> ")) + ") failed: "
                + Errno.describe(errno) + why + "; " + left, leftIn, cause);
    }
}
