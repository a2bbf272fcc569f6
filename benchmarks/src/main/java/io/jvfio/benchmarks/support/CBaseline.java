package io.jvfio.benchmarks.support;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * A C baseline shipped as source in the benchmarks jar ({@code src/main/c}), compiled with
 * {@code cc} when a benchmark first needs it and bound to a class's native methods with JNA direct
 * mapping. Without a C compiler the benchmark fails its setup with a message saying so, which JMH
 * reports and passes over (the suite leaves such rows out, see {@link #available}).
 */
public final class CBaseline {

    private CBaseline() {
    }

    /** Whether {@code cc} runs here: without it the C baselines are not measured. */
    public static boolean available() {
        try {
            Process p = new ProcessBuilder("cc", "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /**
     * Compiles {@code source} (a file of {@code src/main/c}) into a shared library, with
     * {@code libraries} linked (e.g. {@code -lpthread}), and registers {@code bound}'s native
     * methods with it.
     */
    public static void compileAndRegister(Class<?> bound, String source, String... libraries) {
        compileAndRegister(bound, source, java.util.List.of(), libraries);
    }

    /** As {@link #compileAndRegister(Class, String, String...)}, with {@code headers} of {@code src/main/c} beside it. */
    public static void compileAndRegister(Class<?> bound, String source, java.util.List<String> headers,
                                          String... libraries) {
        try {
            Path dir = Files.createTempDirectory("jvfio-c-baseline");
            Path c = copy(source, dir);
            java.util.List<Path> copied = new java.util.ArrayList<>();
            for (String h : headers) {
                copied.add(copy(h, dir));
            }
            Path library = dir.resolve("lib" + source.replace(".c", "") + ".so");
            java.util.List<String> command = new java.util.ArrayList<>(java.util.List.of("cc", "-O2", "-shared",
                    "-fPIC", "-o", library.toString(), c.toString()));
            command.addAll(java.util.List.of(libraries));
            Process cc;
            try {
                cc = new ProcessBuilder(command).redirectErrorStream(true).start();
            } catch (IOException e) {
                throw new IllegalStateException("no C compiler (cc) to build the C baseline " + source
                        + ": install gcc (Debian: apt-get install gcc); " + e.getMessage(), e);
            }
            String out = new String(cc.getInputStream().readAllBytes());
            if (!cc.waitFor(60, TimeUnit.SECONDS) || cc.exitValue() != 0) {
                throw new IllegalStateException("cc could not compile the C baseline " + source + " (install gcc): "
                        + out);
            }
            Native.register(bound, NativeLibrary.getInstance(library.toString()));
            library.toFile().deleteOnExit();
            c.toFile().deleteOnExit();
            copied.forEach(h -> h.toFile().deleteOnExit());
            dir.toFile().deleteOnExit();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Copies a file of {@code src/main/c} out of the benchmarks jar into {@code dir}. */
    private static Path copy(String name, Path dir) throws IOException {
        Path to = dir.resolve(name);
        try (InputStream in = CBaseline.class.getResourceAsStream("/io/jvfio/benchmarks/c/" + name)) {
            if (in == null) {
                throw new IllegalStateException(name + " is missing from the benchmarks jar");
            }
            Files.copy(in, to);
        }
        return to;
    }
}
