package io.jvfio.migration;

/**
 * A migration as {@code query-migrate} reports it (QEMU's MigrationInfo, qapi/migration.json): its status,
 * its times in ms (null where QEMU leaves the member out), its RAM counters and, after a failure, the error.
 * On the destination, {@code totalTimeMs} is its own load time (the source alone knows the downtime).
 */
public record MigrationInfo(MigrationStatus status, Long totalTimeMs, Long setupTimeMs, Long downtimeMs,
                            Long expectedDowntimeMs, Ram ram, String errorDesc) {

    /** No migration yet. */
    public static final MigrationInfo NONE = new MigrationInfo(MigrationStatus.NONE, null, null, null, null, null, null);

    /**
     * QEMU's MigrationStats: bytes sent, still dirty and in all; pages of zeros sent as their address
     * ({@code duplicate}) and pages sent whole ({@code normal}, {@code normalBytes}); the dirty-log syncs;
     * the rate of the last round (Mbit/s), of the guest's dirtying (pages/s), of pages sent (pages/s).
     */
    public record Ram(long transferred, long remaining, long total, long duplicate, long normal, long normalBytes,
                      long dirtySyncCount, double mbps, long dirtyPagesRate, double pagesPerSecond) {
    }
}
