package io.jvfio.migration;

import io.jvfio.vmm.migration.MigrationException;

/**
 * The parameters {@code migrate-set-parameters} sets and {@code query-migrate-parameters} reports, with
 * QEMU's defaults and bounds (migration/options.c): {@code downtime-limit} 300 ms (at most 2,000,000),
 * {@code max-bandwidth} 128 MiB/s. A migration reads them as it goes, as QEMU's does.
 */
public final class MigrationParameters {

    /** QEMU's DEFAULT_MIGRATE_SET_DOWNTIME. */
    public static final long DEFAULT_DOWNTIME_LIMIT_MS = 300;
    /** QEMU's MAX_MIGRATE_DOWNTIME (2000 s). */
    public static final long MAX_DOWNTIME_LIMIT_MS = 2_000_000;
    /** QEMU's MAX_THROTTLE: 128 MiB/s. */
    public static final long DEFAULT_MAX_BANDWIDTH = 128L << 20;

    private volatile long downtimeLimitMs = DEFAULT_DOWNTIME_LIMIT_MS;
    private volatile long maxBandwidth = DEFAULT_MAX_BANDWIDTH;

    public long downtimeLimitMs() {
        return downtimeLimitMs;
    }

    /** The longest the guest may stay stopped for the last round, in ms. */
    public void downtimeLimitMs(long ms) {
        if (ms < 0 || ms > MAX_DOWNTIME_LIMIT_MS) {
            // QEMU's wording (migration/options.c, migrate_params_check: QERR_INVALID_PARAMETER_VALUE)
            throw new MigrationException("Parameter 'downtime_limit' expects an integer in the range of 0 to "
                    + MAX_DOWNTIME_LIMIT_MS + " ms");
        }
        downtimeLimitMs = ms;
    }

    public long maxBandwidth() {
        return maxBandwidth;
    }

    /** The most bytes a second the stream may carry; 0 is no limit. */
    public void maxBandwidth(long bytesPerSecond) {
        if (bytesPerSecond < 0) {
            // QEMU's wording (migration/options.c, migrate_params_check), the range of a signed size here
            throw new MigrationException("Parameter 'max_bandwidth' expects an integer in the range of 0 to "
                    + Long.MAX_VALUE + " bytes/second");
        }
        maxBandwidth = bytesPerSecond;
    }
}
