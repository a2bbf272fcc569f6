package io.jvfio.migration;

/** QEMU's MigrationStatus (qapi/migration.json), the states jvfio's migrations go through. */
public enum MigrationStatus {
    NONE("none"), SETUP("setup"), CANCELLING("cancelling"), CANCELLED("cancelled"), ACTIVE("active"),
    DEVICE("device"), COMPLETED("completed"), FAILED("failed");

    private final String qapi;

    MigrationStatus(String qapi) {
        this.qapi = qapi;
    }

    /** The name QMP uses. */
    public String qapi() {
        return qapi;
    }

    /** Whether a migration in this state is under way (QEMU's migration_is_running). */
    public boolean running() {
        return this == SETUP || this == ACTIVE || this == DEVICE || this == CANCELLING;
    }
}
