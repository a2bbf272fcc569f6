package io.jvfio.benchmarks.suite;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A {@link RunResults} saved to a file and read back: how the KVM groups measured in the nested VM
 * ({@code Suite --kvm-only FILE}) reach the host's report ({@code Suite --kvm-from FILE}). Text, one
 * record a line, fields separated by tabs (backslash, tab and newline escaped in them); doubles as
 * {@link Double#toString} writes them, so NaN and every digit survive the round trip.
 */
final class ResultsFile {

    private static final String HEADER = "jvfio benchmark results 1";

    private ResultsFile() {
    }

    static void save(RunResults r, Path file) throws IOException {
        StringBuilder s = new StringBuilder(HEADER).append('\n');
        line(s, "machine", r.machine());
        line(s, "settings", r.settings());
        line(s, "took", Long.toString(r.took().toMillis()));
        for (Measured m : new TreeMap<>(r.measured()).values()) {
            List<String> values = new ArrayList<>();
            for (double v : m.valuesNs()) {
                values.add(Double.toString(v));
            }
            List<String> counts = new ArrayList<>();
            for (long c : m.counts()) {
                counts.add(Long.toString(c));
            }
            line(s, "measured", m.id(), Boolean.toString(m.sampled()), Double.toString(m.medianNs()),
                    Double.toString(m.p99Ns()), Double.toString(m.errorNs()), String.join(",", values),
                    String.join(",", counts), Double.toString(m.allocBytesPerOp()), Integer.toString(m.opsPerSample()));
        }
        for (Map.Entry<String, String> n : new TreeMap<>(r.notes()).entrySet()) {
            line(s, "note", n.getKey(), n.getValue());
        }
        for (Map.Entry<String, double[]> n : new TreeMap<>(r.rounds()).entrySet()) {
            List<String> medians = new ArrayList<>();
            for (double v : n.getValue()) {
                medians.add(Double.toString(v));
            }
            line(s, "rounds", n.getKey(), String.join(",", medians));
        }
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Files.writeString(file, s, StandardCharsets.UTF_8);
    }

    static RunResults load(Path file) throws IOException {
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        if (lines.isEmpty() || !lines.get(0).equals(HEADER)) {
            throw new IllegalArgumentException(file + " is not a file of saved benchmark results (its first line is not \""
                    + HEADER + "\"); it is what Suite --kvm-only FILE writes");
        }
        String machine = null;
        String settings = null;
        Duration took = null;
        Map<String, Measured> measured = new HashMap<>();
        Map<String, String> notes = new HashMap<>();
        Map<String, double[]> rounds = new HashMap<>();
        for (int i = 1; i < lines.size(); i++) {
            String[] f = lines.get(i).split("\t", -1);
            for (int j = 0; j < f.length; j++) {
                f[j] = unescape(f[j]);
            }
            try {
                switch (f[0]) {
                    case "machine" -> machine = f[1];
                    case "settings" -> settings = f[1];
                    case "took" -> took = Duration.ofMillis(Long.parseLong(f[1]));
                    case "measured" -> {
                        String[] vs = f[6].isEmpty() ? new String[0] : f[6].split(",");
                        String[] cs = f[7].isEmpty() ? new String[0] : f[7].split(",");
                        double[] values = new double[vs.length];
                        long[] counts = new long[cs.length];
                        for (int k = 0; k < vs.length; k++) {
                            values[k] = Double.parseDouble(vs[k]);
                        }
                        for (int k = 0; k < cs.length; k++) {
                            counts[k] = Long.parseLong(cs[k]);
                        }
                        measured.put(f[1], new Measured(f[1], Boolean.parseBoolean(f[2]), Double.parseDouble(f[3]),
                                Double.parseDouble(f[4]), Double.parseDouble(f[5]), values, counts,
                                Double.parseDouble(f[8]), Integer.parseInt(f[9])));
                    }
                    case "note" -> notes.put(f[1], f[2]);
                    case "rounds" -> rounds.put(f[1], java.util.Arrays.stream(f[2].split(","))
                            .mapToDouble(Double::parseDouble).toArray());
                    default -> throw new IllegalArgumentException("an unknown record \"" + f[0] + "\"");
                }
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(file + " line " + (i + 1) + " is not a saved result (" + e.getMessage()
                        + "); write the file again with Suite --kvm-only FILE", e);
            }
        }
        if (machine == null || settings == null || took == null) {
            throw new IllegalArgumentException(file + " lacks its machine, settings or took line: cut short? Write it "
                    + "again with Suite --kvm-only FILE");
        }
        return new RunResults(machine, settings, took, measured, notes, rounds);
    }

    private static void line(StringBuilder s, String... fields) {
        for (int i = 0; i < fields.length; i++) {
            s.append(i == 0 ? "" : "\t").append(escape(fields[i]));
        }
        s.append('\n');
    }

    private static String escape(String f) {
        return f.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n");
    }

    private static String unescape(String f) {
        StringBuilder s = new StringBuilder(f.length());
        for (int i = 0; i < f.length(); i++) {
            char c = f.charAt(i);
            if (c == '\\' && i + 1 < f.length()) {
                char n = f.charAt(++i);
                s.append(n == 't' ? '\t' : n == 'n' ? '\n' : n);
            } else {
                s.append(c);
            }
        }
        return s.toString();
    }
}
