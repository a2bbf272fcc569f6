package io.jvfio.benchmarks.suite;

import io.jvfio.benchmarks.support.BenchNotes;
import io.jvfio.benchmarks.support.CBaseline;
import org.openjdk.jmh.profile.GCProfiler;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * The benchmark suite in one command: runs every benchmark of the {@link Catalogue} with JMH (one
 * fork each, sample mode, the GC profiler on), then writes {@code results/README.md} (each
 * benchmark's median and p99 beside its baseline's, the ratio, the allocation per operation, and
 * what the benchmark observed) and one PNG per group with the latency distributions. With
 * {@code --readme FILE} it also regenerates the section of FILE between
 * {@code <!-- benchmarks:begin -->} and {@code <!-- benchmarks:end -->}.
 *
 * <pre>
 * java -cp benchmarks.jar io.jvfio.benchmarks.suite.Suite [--out DIR] [--readme FILE] [--quick]
 * </pre>
 */
public final class Suite {

    /** Iterations of a full run: about 6 s per benchmark, about 5 minutes for the suite here. */
    static final int WARMUP = 2;
    static final int MEASURE = 3;

    private Suite() {
    }

    public static void main(String[] args) throws Exception {
        Path out = Path.of("benchmarks/results");
        Path readme = null;
        boolean quick = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--out" -> out = Path.of(value(args, ++i, "--out"));
                case "--readme" -> readme = Path.of(value(args, ++i, "--readme"));
                case "--quick" -> quick = true;
                case "-h", "--help" -> {
                    System.out.println("usage: Suite [--out DIR] [--readme FILE] [--quick]");
                    return;
                }
                default -> {
                    System.err.println("Suite: unknown option " + args[i] + " (--out DIR, --readme FILE, --quick)");
                    System.exit(1);
                }
            }
        }
        System.exit(run(out, readme, quick));
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            System.err.println("Suite: " + option + " needs a value");
            System.exit(1);
        }
        return args[i];
    }

    static int run(Path out, Path readme, boolean quick) throws IOException, RunnerException {
        Files.createDirectories(out);
        try (Stream<Path> old = Files.list(out)) {
            for (Path p : old.filter(p -> p.toString().endsWith(".png")).toList()) {
                Files.delete(p);
            }
        }
        Path notes = Files.createTempDirectory("jvfio-bench-notes");
        Instant start = Instant.now();
        ChainedOptionsBuilder options = new OptionsBuilder()
                .forks(1)
                .warmupIterations(quick ? 1 : WARMUP)
                .warmupTime(quick ? TimeValue.milliseconds(200) : TimeValue.seconds(1))
                .measurementIterations(quick ? 1 : MEASURE)
                .measurementTime(quick ? TimeValue.milliseconds(300) : TimeValue.seconds(1))
                .timeout(TimeValue.minutes(2))
                .addProfiler(GCProfiler.class)
                .shouldFailOnError(true)
                .jvmArgsAppend("-Djvfio.bench.notes=" + notes, "-Xmx512m", "-Djava.awt.headless=true");
        boolean kvm = io.jvfio.kvm.Kvm.usable();
        for (String c : Catalogue.CLASSES) {
            if (kvm) {
                options.include("io\\.jvfio\\.benchmarks\\." + c + "\\.");
            } else if (c.equals("InterruptLatencyBenchmark")) {
                options.include("io\\.jvfio\\.benchmarks\\." + c + "\\.(ring|rawEventfd)$");
            } else if (!c.startsWith("Kvm")) {
                options.include("io\\.jvfio\\.benchmarks\\." + c + "\\.");
            }
        }
        // Without a C compiler the C baselines are left out (their setup would fail the run), unless
        // -Djvfio.cc=required asks for them: then the run fails saying why.
        boolean cc = "required".equals(System.getProperty("jvfio.cc")) || CBaseline.available();
        if (!cc) {
            for (String id : Catalogue.NEEDS_CC) {
                options.exclude("io\\.jvfio\\.benchmarks\\." + id.replace(".", "\\.") + "$");
            }
        }
        Collection<RunResult> results = new Runner(options.build()).run();
        Duration took = Duration.between(start, Instant.now());

        Map<String, Measured> measured = new HashMap<>();
        for (RunResult r : results) {
            Measured m = measure(r);
            measured.put(m.id(), m);
        }
        Map<String, String> observed = readNotes(notes);
        List<Row> rows = Catalogue.rows();
        List<String> missing = new ArrayList<>();
        for (Row row : rows) {
            for (String id : List.of(row.benchmark(), row.baseline())) {
                if (!measured.containsKey(id)) {
                    if (!kvm && Catalogue.needsKvm(id)) {
                        observed.putIfAbsent(id, "not run: this machine has no usable /dev/kvm");
                    } else if (!cc && Catalogue.needsCc(id)) {
                        observed.putIfAbsent(id, "not run: no C compiler (cc) to build the C baseline; install gcc");
                    } else {
                        missing.add(id);
                    }
                }
            }
        }
        Map<String, Path> plots = Plots.write(out, rows, measured);
        String machine = MachineInfo.describe();
        String settings = quick ? "a quick run (1 x 0.2 s warm-up, 1 x 0.3 s measurement): a smoke test, not figures"
                : "JMH " + org.openjdk.jmh.util.Version.getPlainVersion() + ", one fork per benchmark, " + WARMUP
                + " x 1 s warm-up, " + MEASURE + " x 1 s measurement, sample mode (average-time for operations of "
                + "nanoseconds), -prof gc";
        Report report = new Report(rows, measured, observed, plots, machine, settings, took);
        Files.writeString(out.resolve("README.md"), report.markdown("", "# jvfio benchmarks\n\n"));
        System.out.println("jvfio benchmarks: " + measured.size() + " benchmarks in " + took.toMinutes() + " min "
                + took.toSecondsPart() + " s; results in " + out.resolve("README.md"));
        if (readme != null) {
            Path base = readme.toAbsolutePath().getParent();
            String relative = base.relativize(out.toAbsolutePath()).toString();
            String prefix = relative.isEmpty() ? "" : relative + "/";
            Report.replaceSection(readme, report.markdown(prefix, ""));
            System.out.println("jvfio benchmarks: the performance section of " + readme + " is regenerated");
        }
        if (!missing.isEmpty()) {
            System.err.println("jvfio benchmarks: no result for " + new TreeSet<>(missing));
            return 1;
        }
        return 0;
    }

    static Measured measure(RunResult r) {
        Result<?> primary = r.getPrimaryResult();
        double toNs = nanosPer(primary.getScoreUnit());
        var stats = primary.getStatistics();
        List<double[]> raw = new ArrayList<>();
        for (Iterator<Map.Entry<Double, Long>> it = stats.getRawData(); it.hasNext(); ) {
            Map.Entry<Double, Long> e = it.next();
            raw.add(new double[] {e.getKey() * toNs, e.getValue()});
        }
        raw.sort((a, b) -> Double.compare(a[0], b[0]));
        double[] values = new double[raw.size()];
        long[] counts = new long[raw.size()];
        for (int i = 0; i < raw.size(); i++) {
            values[i] = raw.get(i)[0];
            counts[i] = (long) raw.get(i)[1];
        }
        double alloc = Double.NaN;
        for (Map.Entry<String, Result> e : r.getSecondaryResults().entrySet()) {
            if (e.getKey().endsWith("gc.alloc.rate.norm")) {
                alloc = e.getValue().getScore();
            }
        }
        if (r.getParams().getMode() != org.openjdk.jmh.annotations.Mode.SampleTime) {
            return new Measured(BenchNotes.id(r.getParams()), false, primary.getScore() * toNs, Double.NaN,
                    primary.getScoreError() * toNs, new double[0], new long[0], alloc, 1);
        }
        return new Measured(BenchNotes.id(r.getParams()), true, stats.getPercentile(50) * toNs,
                stats.getPercentile(99) * toNs, 0, values, counts, alloc, r.getParams().getOpsPerInvocation());
    }

    static double nanosPer(String unit) {
        String u = unit.substring(0, unit.indexOf('/'));
        return switch (u) {
            case "ns" -> 1;
            case "us" -> 1e3;
            case "ms" -> 1e6;
            case "s" -> 1e9;
            default -> throw new IllegalStateException("unexpected unit " + unit);
        };
    }

    private static Map<String, String> readNotes(Path dir) throws IOException {
        Map<String, String> notes = new HashMap<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                String name = f.getFileName().toString();
                notes.put(name.substring(0, name.length() - ".txt".length()), Files.readString(f).trim());
                Files.delete(f);
            }
        }
        Files.delete(dir);
        return notes;
    }
}
