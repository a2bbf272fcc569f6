package io.jvfio.launcher.driver;

/**
 * The steps of the built-in driver, numbered as the guest program ({@code src/main/guest/driver.s})
 * reports them; the host-side driver runs the same ones.
 */
public enum DriverStep {
    FIND(1, "find"),
    BARS(2, "bars"),
    ENABLE(3, "enable"),
    ID(4, "id"),
    LIVENESS(5, "liveness"),
    FACTORIAL(6, "factorial"),
    DMA(7, "dma"),
    INTERRUPT(8, "interrupt"),
    STORM(9, "storm"),
    TRAPPED(10, "trapped"),
    DIRECT(11, "direct"),
    INTX(12, "intx"),
    /**
     * Runs only across a migration: the driver leaves state in the device and keeps writing RAM while
     * the machine migrates; on the destination it checks both and that an interrupt still arrives.
     */
    MIGRATION(13, "migration");

    /** The steps of a run from the start: find to INTx. */
    private static final java.util.List<DriverStep> START = java.util.List.of(FIND, BARS, ENABLE, ID, LIVENESS,
            FACTORIAL, DMA, INTERRUPT, STORM, TRAPPED, DIRECT, INTX);
    /**
     * The steps after a migration: the migration's own, then steps 3 to 12 again on the device the start
     * found and placed (the guest keeps its BARs in RAM; they are not sized again).
     */
    private static final java.util.List<DriverStep> AFTER_MIGRATION = java.util.List.of(MIGRATION, ENABLE, ID,
            LIVENESS, FACTORIAL, DMA, INTERRUPT, STORM, TRAPPED, DIRECT, INTX);

    private final int number;
    private final String label;

    DriverStep(int number, String label) {
        this.number = number;
        this.label = label;
    }

    public int number() {
        return number;
    }

    public String label() {
        return label;
    }

    /** Whether the step drives edu's registers (skipped for other devices). */
    public boolean needsEdu() {
        return number >= ID.number && number <= STORM.number;
    }

    /** The steps a run from the start reports, in order. */
    public static java.util.List<DriverStep> start() {
        return START;
    }

    /** The steps a run on a migration's destination reports, in order. */
    public static java.util.List<DriverStep> afterMigration() {
        return AFTER_MIGRATION;
    }

    public static DriverStep of(int number) {
        for (DriverStep s : values()) {
            if (s.number == number) {
                return s;
            }
        }
        return null;
    }
}
