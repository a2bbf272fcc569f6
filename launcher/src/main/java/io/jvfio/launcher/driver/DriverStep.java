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
    INTX(12, "intx");

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

    public static DriverStep of(int number) {
        for (DriverStep s : values()) {
            if (s.number == number) {
                return s;
            }
        }
        return null;
    }
}
