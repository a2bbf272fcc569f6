package io.jvfio.benchmarks.support;

import org.openjdk.jmh.infra.BenchmarkParams;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Facts a benchmark observed in its run (exit counts, the path interrupts took), for the suite's
 * report: written to {@code jvfio.bench.notes} (a directory the suite gives the forked JVMs), one
 * file per benchmark, named by its {@link #id}; without the property they are printed.
 */
public final class BenchNotes {

    private BenchNotes() {
    }

    /** A benchmark's name in the suite: {@code Class.method}, and its parameters in brackets. */
    public static String id(BenchmarkParams p) {
        String[] parts = p.getBenchmark().split("\\.");
        StringBuilder id = new StringBuilder(parts[parts.length - 2]).append('.').append(parts[parts.length - 1]);
        if (!p.getParamsKeys().isEmpty()) {
            id.append('[');
            boolean first = true;
            for (String k : p.getParamsKeys()) {
                id.append(first ? "" : ",").append(k).append('=').append(p.getParam(k));
                first = false;
            }
            id.append(']');
        }
        return id.toString();
    }

    /** The note of the benchmark {@code params} describe (a state's trial tear-down may take them). */
    public static void write(BenchmarkParams params, String note) {
        String benchmark = id(params);
        String dir = System.getProperty("jvfio.bench.notes");
        if (dir == null) {
            System.out.println("note: " + benchmark + ": " + note);
            return;
        }
        try {
            Files.writeString(Path.of(dir, benchmark + ".txt"), note);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
