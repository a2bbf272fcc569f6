package io.jvfio.vmm.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * The kernel the nested tests boot and whose UAPI headers the ABI test compiles against: Debian's
 * linux-source-6.12 built with scripts/test-kernel.config by {@code scripts/test-kernel-prepare}
 * (Debian's own kernels lack iommufd, the VFIO device cdev and No-IOMMU). The script prints its
 * directory, which holds {@code bzImage}, {@code config}, {@code include/} (the UAPI headers of
 * {@code make headers_install}) and {@code version}; {@code ./run-tests} passes it as
 * {@value #PROPERTY}.
 */
public final class TestKernel {

    /** The property naming the directory scripts/test-kernel-prepare printed. */
    public static final String PROPERTY = "jvfio.nested.kernel";

    /** What to run where it is missing. */
    public static final String PREPARE = "scripts/test-kernel-prepare (once per machine: it builds the kernel, "
            + "17 to 42 minutes on 2 cores, into " + cache("test-kernel") + ")";

    private TestKernel() {
    }

    /**
     * The test kernel's directory: {@code -Djvfio.nested.kernel}, else the newest finished build in the
     * cache scripts/test-kernel-prepare uses; null if there is none. Not checked: see {@link #bzImage}.
     */
    public static Path dir() {
        String explicit = System.getProperty(PROPERTY);
        if (explicit != null && !explicit.isEmpty()) {
            return Path.of(explicit);
        }
        Path cache = cache("test-kernel");
        if (!Files.isDirectory(cache)) {
            return null;
        }
        // The script builds in NAME.build and NAME.partial and renames to NAME only when it is complete.
        try (Stream<Path> s = Files.list(cache)) {
            return s.filter(p -> !p.toString().endsWith(".build") && !p.toString().endsWith(".partial"))
                    .filter(p -> Files.isRegularFile(p.resolve("done")))
                    .max((a, b) -> Long.compare(finishedAt(a), finishedAt(b))).orElse(null);
        } catch (IOException e) {
            return null;
        }
    }

    private static long finishedAt(Path finished) {
        try {
            return Files.getLastModifiedTime(finished.resolve("done")).toMillis();
        } catch (IOException e) {
            return 0;
        }
    }

    /** The kernel image in {@code dir}, or null if it is not a test-kernel directory. */
    public static Path bzImage(Path dir) {
        Path image = dir.resolve("bzImage");
        return Files.isRegularFile(image) ? image : null;
    }

    /** The UAPI headers in {@code dir} ({@code make headers_install}), or null if it has none. */
    public static Path headers(Path dir) {
        Path include = dir.resolve("include");
        return Files.isRegularFile(include.resolve("linux/vfio.h")) ? include : null;
    }

    /** {@code name} in the cache the scripts/ use: $JVFIO_CACHE, else $XDG_CACHE_HOME/jvfio or ~/.cache/jvfio. */
    public static Path cache(String name) {
        String explicit = System.getenv("JVFIO_CACHE");
        if (explicit != null) {
            return Path.of(explicit, name);
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        return (xdg != null ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache")).resolve("jvfio")
                .resolve(name);
    }
}
