package io.jvfio.benchmarks.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Facts a benchmark observed in its run (exit counts, the path interrupts took), for the suite's
 * report: written to {@code jvfio.bench.notes} (a directory the suite gives the forked JVMs), one
 * file per benchmark; nothing is written when the property is not set.
 */
public final class BenchNotes {

    private BenchNotes() {
    }

    public static void write(String benchmark, String note) {
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
