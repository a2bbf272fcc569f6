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
 * fork each, sample mode, the GC profiler on; the groups of {@link Catalogue#ROUNDS_GROUPS} in
 * {@link Catalogue#ROUNDS} rounds, {@link #inRounds}), then writes {@code results/README.md} (each
 * benchmark's median and p99 beside its baseline's, the ratio, the allocation per operation, and
 * what the benchmark observed) and one PNG per group with the latency distributions. With
 * {@code --readme FILE} it also regenerates the section of FILE between
 * {@code <!-- benchmarks:begin -->} and {@code <!-- benchmarks:end -->}.
 *
 * <p>Where the host has no {@code /dev/kvm}, the KVM groups ({@link Catalogue#KVM_GROUPS}) are measured
 * apart, in the nested VM ({@code scripts/nested-kvm}): {@code --kvm-only FILE} runs only their
 * benchmarks and the baselines their rows compare with, and saves the results to FILE
 * ({@link ResultsFile}); the host's run with {@code --kvm-from FILE} then measures everything else and
 * takes those groups' rows, benchmark and baseline alike, from FILE, and the report says where they were
 * measured. Without either, those rows say "not run" and why.
 *
 * <pre>
 * java -cp benchmarks.jar io.jvfio.benchmarks.suite.Suite [--out DIR] [--readme FILE] [--quick] [--kvm-from FILE]
 * java -cp benchmarks.jar io.jvfio.benchmarks.suite.Suite --kvm-only FILE [--quick]
 * </pre>
 */
public final class Suite {

    /**
     * Iterations of a full run: about 6 s per benchmark; the suite, with the rounds of
     * {@link Catalogue#ROUNDS_GROUPS}, about 10 minutes here.
     */
    static final int WARMUP = 2;
    static final int MEASURE = 3;

    private Suite() {
    }

    public static void main(String[] args) throws Exception {
        Path out = Path.of("benchmarks/results");
        Path readme = null;
        boolean quick = false;
        Path kvmOnly = null;
        Path kvmFrom = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--out" -> out = Path.of(value(args, ++i, "--out"));
                case "--readme" -> readme = Path.of(value(args, ++i, "--readme"));
                case "--quick" -> quick = true;
                case "--kvm-only" -> kvmOnly = Path.of(value(args, ++i, "--kvm-only"));
                case "--kvm-from" -> kvmFrom = Path.of(value(args, ++i, "--kvm-from"));
                case "-h", "--help" -> {
                    System.out.println(USAGE);
                    return;
                }
                default -> {
                    System.err.println("Suite: unknown option " + args[i] + "; " + USAGE);
                    System.exit(1);
                }
            }
        }
        if (kvmOnly != null && (kvmFrom != null || readme != null)) {
            System.err.println("Suite: --kvm-only FILE only measures the KVM groups and saves them to FILE; "
                    + "--kvm-from and --readme belong to the host's run that takes FILE");
            System.exit(1);
        }
        RunResults nested = null;
        if (kvmFrom != null) {
            try {
                nested = ResultsFile.load(kvmFrom);
            } catch (IOException | IllegalArgumentException e) {
                System.err.println("Suite: --kvm-from " + kvmFrom + ": " + (e instanceof java.nio.file.NoSuchFileException
                        ? "no such file" : e.getMessage()));
                System.exit(1);
            }
        }
        System.exit(kvmOnly != null ? runKvmOnly(kvmOnly, quick) : run(out, readme, quick, nested, kvmFrom));
    }

    private static final String USAGE = "usage: Suite [--out DIR] [--readme FILE] [--quick] [--kvm-from FILE] | "
            + "Suite --kvm-only FILE [--quick]";

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            System.err.println("Suite: " + option + " needs a value");
            System.exit(1);
        }
        return args[i];
    }

    /**
     * Measures only the KVM groups' benchmarks and their baselines, and saves them to {@code file}: what
     * {@code ./run-benchmarks} runs in the nested VM where the host has no {@code /dev/kvm}.
     */
    static int runKvmOnly(Path file, boolean quick) throws IOException, RunnerException {
        if (!io.jvfio.kvm.Kvm.usable()) {
            System.err.println("Suite: --kvm-only needs a usable /dev/kvm, and there is none here; run it where "
                    + "there is, or in the nested VM: scripts/nested-kvm KERNEL_DIR -- java -cp benchmarks.jar "
                    + Suite.class.getName() + " --kvm-only FILE");
            return 1;
        }
        java.util.Set<String> ids = Catalogue.idsOf(Catalogue.KVM_GROUPS);
        RunResults r = measure(quick, patternsOf(ids));
        List<String> missing = notRun(r, ids, true);
        ResultsFile.save(r, file);
        System.out.println("jvfio benchmarks: the KVM groups' " + r.measured().size() + " benchmarks in "
                + r.took().toMinutes() + " min " + r.took().toSecondsPart() + " s; saved to " + file);
        if (!missing.isEmpty()) {
            System.err.println("jvfio benchmarks: no result for " + missing);
            return 1;
        }
        return 0;
    }

    /**
     * The host's run: every benchmark, the KVM groups' only where {@code /dev/kvm} is usable, or, with
     * {@code nested} (read from {@code kvmFrom}), the KVM groups' rows from that nested run and none of
     * them measured here.
     */
    static int run(Path out, Path readme, boolean quick, RunResults nested, Path kvmFrom)
            throws IOException, RunnerException {
        Files.createDirectories(out);
        try (Stream<Path> old = Files.list(out)) {
            for (Path p : old.filter(p -> p.toString().endsWith(".png")).toList()) {
                Files.delete(p);
            }
        }
        boolean kvm = nested == null && io.jvfio.kvm.Kvm.usable();
        List<String> patterns = new ArrayList<>();
        for (String c : Catalogue.CLASSES) {
            if (kvm) {
                patterns.add(c + "\\.");
            } else if (c.equals("InterruptLatencyBenchmark")) {
                patterns.add(c + "\\.(ring|rawEventfd)$");
            } else if (!c.startsWith("Kvm")) {
                patterns.add(c + "\\.");
            }
        }
        RunResults host = inRounds(measure(quick, patterns), quick);
        SuiteResults results = new SuiteResults(host, nested);

        List<Row> rows = Catalogue.rows();
        List<String> missing = new ArrayList<>();
        for (Row row : rows) {
            RunResults run = results.of(row.group());
            missing.addAll(notRun(run, List.of(row.benchmark(), row.baseline()), run != host || kvm));
        }
        Map<String, Path> plots = Plots.write(out, rows, results);
        Report report = new Report(rows, results, plots);
        Files.writeString(out.resolve("README.md"), report.markdown("", "# jvfio benchmarks\n\n"));
        System.out.println("jvfio benchmarks: " + host.measured().size() + " benchmarks in " + host.took().toMinutes()
                + " min " + host.took().toSecondsPart() + " s" + (nested == null ? "" : ", and "
                + nested.measured().size() + " of the KVM groups from the nested run in " + kvmFrom)
                + "; results in " + out.resolve("README.md"));
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

    /** JMH include patterns for exactly these benchmarks (their parameters, in brackets, dropped). */
    private static java.util.Set<String> patternsOf(Collection<String> ids) {
        java.util.Set<String> patterns = new java.util.TreeSet<>();
        for (String id : ids) {
            String method = id.contains("[") ? id.substring(0, id.indexOf('[')) : id;
            patterns.add(method.replace(".", "\\.") + "$");
        }
        return patterns;
    }

    /**
     * The groups of {@link Catalogue#ROUNDS_GROUPS} measured again, in all {@link Catalogue#ROUNDS}
     * rounds ({@code first} is the first; a quick run has two), each round their benchmarks one fork each,
     * in turn: every round's medians kept ({@link RunResults#rounds}) and every round's samples pooled.
     * The notes are the first round's.
     */
    static RunResults inRounds(RunResults first, boolean quick) throws IOException, RunnerException {
        List<String> ids = Catalogue.idsOf(Catalogue.ROUNDS_GROUPS).stream().filter(first.measured()::containsKey).toList();
        if (ids.isEmpty()) {
            return first;
        }
        int rounds = quick ? 2 : Catalogue.ROUNDS;
        Map<String, List<Measured>> each = new HashMap<>();
        for (String id : ids) {
            each.put(id, new ArrayList<>(List.of(first.measured().get(id))));
        }
        Duration took = first.took();
        for (int round = 2; round <= rounds; round++) {
            System.out.println("jvfio benchmarks: round " + round + " of " + rounds + " of " + Catalogue.ROUNDS_GROUPS);
            RunResults next = measure(quick, patternsOf(ids));
            took = took.plus(next.took());
            for (String id : ids) {
                Measured m = next.measured().get(id);
                if (m == null) {
                    throw new IllegalStateException("round " + round + " has no result for " + id);
                }
                each.get(id).add(m);
            }
        }
        Map<String, Measured> measured = new HashMap<>(first.measured());
        Map<String, double[]> medians = new HashMap<>();
        for (String id : ids) {
            measured.put(id, Measured.pooled(each.get(id)));
            medians.put(id, each.get(id).stream().mapToDouble(Measured::medianNs).toArray());
        }
        String settings = first.settings() + "; the groups " + String.join(" and ", Catalogue.ROUNDS_GROUPS.stream()
                .map(g -> "\"" + g + "\"").toList()) + " in " + rounds + " rounds (see there)";
        return new RunResults(first.machine(), settings, took, measured, first.notes(), medians);
    }

    /**
     * Runs with JMH the benchmarks that match the patterns (regular expressions for what follows
     * {@code io.jvfio.benchmarks.}) and collects their results and notes. Without a C compiler the C
     * baselines are left out (their setup would fail the run).
     */
    private static RunResults measure(boolean quick, Collection<String> patterns)
            throws IOException, RunnerException {
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
        for (String p : patterns) {
            options.include("io\\.jvfio\\.benchmarks\\." + p);
        }
        if (!cc()) {
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
        String settings = quick ? "a quick run (1 x 0.2 s warm-up, 1 x 0.3 s measurement): a smoke test, not figures"
                : "JMH " + org.openjdk.jmh.util.Version.getPlainVersion() + ", one fork per benchmark, " + WARMUP
                + " x 1 s warm-up, " + MEASURE + " x 1 s measurement, sample mode (average-time for operations of "
                + "nanoseconds), -prof gc";
        return new RunResults(MachineInfo.describe(), settings, took, measured, observed);
    }

    /**
     * Whether the C baselines run: where there is a C compiler, or where {@code -Djvfio.cc=required}
     * asks for them (then a missing compiler fails the run, saying why).
     */
    private static boolean cc() {
        return "required".equals(System.getProperty("jvfio.cc")) || CBaseline.available();
    }

    /**
     * Of the ids, those the run has no result for and no reason: a benchmark left out for want of KVM
     * (where {@code kvm} is false) or of a C compiler gets a "not run" note saying why instead.
     */
    private static List<String> notRun(RunResults run, Collection<String> ids, boolean kvm) {
        boolean cc = cc();
        List<String> missing = new ArrayList<>();
        for (String id : ids) {
            if (run.measured().containsKey(id)) {
                continue;
            }
            if (!kvm && Catalogue.needsKvm(id)) {
                run.notes().putIfAbsent(id, "not run: this machine has no usable /dev/kvm");
            } else if (!cc && Catalogue.needsCc(id)) {
                run.notes().putIfAbsent(id, "not run: no C compiler (cc) to build the C baseline; install gcc");
            } else {
                missing.add(id);
            }
        }
        return missing;
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
