package io.jvfio.launcher.driver;

import org.HdrHistogram.Histogram;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What a driver run found: each step's result, the vCPUs' exits per reason (summed, and per vCPU
 * when there are several; none without KVM), and
 * the latency distributions of a trapped MMIO read, a directly mapped read and an interrupt.
 */
public final class DriverReport {

    /** A latency distribution, in nanoseconds. */
    public record Latency(String what, Histogram histogram) {
        public long median() {
            return histogram.getValueAtPercentile(50);
        }

        public long p99() {
            return histogram.getValueAtPercentile(99);
        }

        /** One line, the label padded to {@code width} so that the table's columns line up. */
        String render(int width) {
            return String.format("  %-" + width + "s  median %8s  p99 %8s  (%d samples)", what, micros(median()),
                    micros(p99()), histogram.getTotalCount());
        }
    }

    private final List<StepResult> steps = new ArrayList<>();
    /** The steps this run is to report: a start's, or a migration destination's. */
    private final List<DriverStep> expected;
    private final List<Latency> latencies = new ArrayList<>();
    private Map<String, Long> exits;
    private Map<String, Map<String, Long>> exitsPerVcpu;
    private String failure;
    private long unclaimedMmio;
    private long unclaimedPio;

    /** A run from the start: {@link DriverStep#start()}. */
    public DriverReport() {
        this(DriverStep.start());
    }

    private DriverReport(List<DriverStep> expected) {
        this.expected = expected;
    }

    /** A run on a migration's destination: {@link DriverStep#afterMigration()}. */
    static DriverReport afterMigration() {
        return new DriverReport(DriverStep.afterMigration());
    }

    /** The result of {@code step}, or null if it has not run. */
    public StepResult result(DriverStep step) {
        return steps.stream().filter(s -> s.step() == step).findFirst().orElse(null);
    }

    /** Each step's result, in the order they ran. */
    List<StepResult> steps() {
        return List.copyOf(steps);
    }

    void add(StepResult r) {
        steps.add(r);
    }

    void addLatency(String what, Histogram h) {
        if (h.getTotalCount() > 0) {
            latencies.add(new Latency(what, h));
        }
    }

    void exits(Map<String, Long> byReason) {
        this.exits = byReason;
    }

    /** With several vCPUs, each one's exits per reason, by its name ({@code vcpu1}); their sum is {@link #exits}. */
    void exitsPerVcpu(Map<String, Map<String, Long>> byVcpu) {
        this.exitsPerVcpu = byVcpu;
    }

    /**
     * Accesses no device claimed (they read all-ones and their writes were dropped, as on a PCI bus):
     * a driver that is right about its device makes none.
     */
    public void unclaimed(long mmio, long pio) {
        this.unclaimedMmio = mmio;
        this.unclaimedPio = pio;
    }

    /** The run itself failed (the guest faulted, timed out): said in one line. */
    void failure(String why) {
        this.failure = why;
    }

    /** Why the run itself failed, or null. */
    String failure() {
        return failure;
    }

    /** True if every step ran and none failed. */
    public boolean passed() {
        return failure == null && expected.stream().allMatch(e -> result(e) != null)
                && steps.stream().noneMatch(s -> s.status() == StepResult.Status.FAIL);
    }

    /** The step report, exits and latencies, as printed. */
    public String render() {
        StringBuilder sb = new StringBuilder("steps:\n");
        for (StepResult s : steps) {
            sb.append(s).append('\n');
        }
        for (DriverStep missing : expected) {
            if (steps.stream().noneMatch(s -> s.step() == missing)) {
                sb.append(StepResult.fail(missing, "did not run")).append('\n');
            }
        }
        if (failure != null) {
            sb.append("failure: ").append(failure).append('\n');
        }
        if (exits != null) {
            sb.append("exits:");
            exits.forEach((reason, n) -> sb.append(' ').append(reason).append(' ').append(n));
            sb.append('\n');
            if (exitsPerVcpu != null) {
                exitsPerVcpu.forEach((vcpu, byReason) -> {
                    sb.append("  ").append(vcpu).append(':');
                    byReason.forEach((reason, n) -> sb.append(' ').append(reason).append(' ').append(n));
                    sb.append('\n');
                });
            }
        }
        if (unclaimedMmio + unclaimedPio > 0) {
            sb.append("unclaimed: ").append(unclaimedMmio).append(" MMIO and ").append(unclaimedPio)
                    .append(" port I/O accesses reached no device (reads gave all-ones, writes were dropped)\n");
        }
        if (!latencies.isEmpty()) {
            sb.append("latency:\n");
            int width = latencies.stream().mapToInt(l -> l.what().length()).max().orElse(0);
            for (Latency l : latencies) {
                sb.append(l.render(width)).append('\n');
            }
        }
        return sb.toString();
    }

    static String micros(long nanos) {
        return String.format("%.1f us", nanos / 1000.0);
    }
}
