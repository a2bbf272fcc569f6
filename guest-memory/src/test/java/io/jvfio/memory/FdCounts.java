package io.jvfio.memory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** What this process holds, read from /proc. */
final class FdCounts {

    private FdCounts() {
    }

    static long openFds() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    /** What each open fd refers to (its /proc/self/fd link), in fd order. */
    static List<String> fdTargets() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.sorted().map(fd -> {
                try {
                    return fd.getFileName() + " -> " + Files.readSymbolicLink(fd);
                } catch (IOException e) {
                    return fd.getFileName() + " (closed while listed)"; // the listing's own fd, or a racing close
                }
            }).toList();
        }
    }

    static List<String> mappings() throws IOException {
        return Files.readAllLines(Path.of("/proc/self/maps"));
    }
}
