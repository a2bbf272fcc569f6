package io.jvfio.migration;

/**
 * Told of an outgoing migration's steps, on the migration's thread: the launcher's built-in guest driver
 * uses them to keep the guest writing across a migration and to check afterwards; QMP sends its
 * {@code MIGRATION} events from {@link #statusChanged}. Each method returns quickly.
 */
public interface MigrationListener {

    /** Before round 0: the guest still runs, its RAM about to be copied. */
    default void setup() {
    }

    /** Just before the vCPUs stop for the last round. */
    default void stopping() {
    }

    /** The migration failed or was cancelled, and the machine runs again as before; {@code reason} says why. */
    default void failed(String reason) {
    }

    /** The destination has the machine; the source stays stopped. */
    default void completed() {
    }

    /** The migration (outgoing or incoming) entered {@code status}. */
    default void statusChanged(MigrationStatus status) {
    }
}
