package io.jvfio.launcher.driver;

/** One step's outcome: PASS, FAIL or SKIP, and what it saw, in words. */
public record StepResult(DriverStep step, Status status, String detail) {

    public enum Status {
        PASS, FAIL, SKIP
    }

    static StepResult pass(DriverStep step, String detail) {
        return new StepResult(step, Status.PASS, detail);
    }

    static StepResult fail(DriverStep step, String detail) {
        return new StepResult(step, Status.FAIL, detail);
    }

    static StepResult skip(DriverStep step, String detail) {
        return new StepResult(step, Status.SKIP, detail);
    }

    static StepResult check(DriverStep step, boolean ok, String detail) {
        return new StepResult(step, ok ? Status.PASS : Status.FAIL, detail);
    }

    @Override
    public String toString() {
        return String.format("  %-4s  %-10s %s", status, step.label(), detail);
    }
}
