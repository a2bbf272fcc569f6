package io.jvfio.vfio.migration;

import java.util.StringJoiner;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_MIGRATION_P2P;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_MIGRATION_PRE_COPY;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_MIGRATION_STOP_COPY;

/** VFIO_MIGRATION_* flags ({@code vfio_device_feature_migration.flags}) by name, for messages. */
public final class MigrationFlags {

    private MigrationFlags() {
    }

    /** E.g. "STOP_COPY|PRE_COPY", or "none". */
    public static String describe(int flags) {
        StringJoiner j = new StringJoiner("|");
        if ((flags & VFIO_MIGRATION_STOP_COPY) != 0) {
            j.add("STOP_COPY");
        }
        if ((flags & VFIO_MIGRATION_P2P) != 0) {
            j.add("P2P");
        }
        if ((flags & VFIO_MIGRATION_PRE_COPY) != 0) {
            j.add("PRE_COPY");
        }
        int unknown = flags & ~(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P | VFIO_MIGRATION_PRE_COPY);
        if (unknown != 0) {
            j.add("0x" + Integer.toHexString(unknown));
        }
        return j.length() == 0 ? "none" : j.toString();
    }
}
