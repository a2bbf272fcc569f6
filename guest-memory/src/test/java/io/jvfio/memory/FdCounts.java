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

    static List<String> mappings() throws IOException {
        return Files.readAllLines(Path.of("/proc/self/maps"));
    }
}
