package io.jvfio.launcher;

import io.jvfio.launcher.driver.DriverStep;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shaded jar as users run it, in its own JVM: the services files and Netty's version files must
 * have been merged for these to pass.
 */
class LauncherJarIT {

    record Result(int status, String out, String err) {
    }

    static Result java(String... args) throws IOException, InterruptedException {
        Path jar = Path.of(System.getProperty("jvfio.jar", "target/jvfio.jar"));
        assertTrue(Files.isRegularFile(jar), "the shaded jar " + jar + " was not built");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar", jar.toString()));
        cmd.addAll(List.of(args));
        return run(cmd);
    }

    /** Runs {@code command} to its end: its status, stdout and stderr. */
    static Result run(List<String> command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), String.join(" ", command) + " did not exit");
        return new Result(p.exitValue(), out, err);
    }

    @Test
    void aMisspelledPropertyExitsWithStatusOneAndOneLine() throws Exception {
        Result r = java("-device", "vfio-pci,hots=1");
        assertEquals(1, r.status);
        assertEquals("", r.out);
        assertEquals(1, r.err.lines().count(), r.err);
        assertTrue(r.err.contains("Property 'vfio-pci.hots' not found"), r.err);
    }

    @Test
    void theDriversAreFoundThroughTheMergedServicesFile() throws Exception {
        Result r = java("-device", "help");
        assertEquals(0, r.status, r.err);
        assertTrue(r.out.contains("name \"vfio-pci\""), r.out);
        assertTrue(r.out.contains("name \"vfio-user-pci\""), r.out);
    }

    @Test
    void nettysVersionLookupWorksInTheShadedJar() throws Exception {
        Result r = java("--version");
        assertEquals(0, r.status, r.err);
        assertTrue(r.out.contains("Netty 4.2.18.Final"), r.out);
        assertTrue(r.out.contains("JNA 5.19.1"), r.out);
    }

    /** The README's run command: the guest driver assembled by the build, loaded from the jar, on KVM. */
    @Test
    void theMainJobPassesEveryStep() throws Exception {
        boolean kvm = io.jvfio.vmm.testing.Prerequisites.kvmRunWanted();
        Result r = java();
        assertEquals(0, r.status, r.toString());
        assertEquals("", r.err);
        assertTrue(r.out.startsWith(kvm ? "jvfio: the built-in guest driver on a KVM vCPU; 64 MiB of RAM"
                : "jvfio: no KVM (-accel none, as /dev/kvm is not usable here)"), r.out);
        assertEquals(DriverStep.start().size(), r.out.lines().filter(l -> l.startsWith("  PASS  ")).count(), r.out);
    }

    @Test
    void serveRunsUntilSigtermAndRemovesItsSocket(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path jar = Path.of(System.getProperty("jvfio.jar", "target/jvfio.jar"));
        Path socket = dir.resolve("edu.sock");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar",
                jar.toString(), "--serve", "edu,socket=" + socket).redirectErrorStream(true).start();
        try {
            java.io.BufferedReader out = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(),
                    StandardCharsets.UTF_8));
            String first = out.readLine();
            assertTrue(first != null && first.startsWith("jvfio: serving edu (1234:11e8"), String.valueOf(first));
            // A VM in another process reaches the device: the launcher's own -device vfio-user-pci.
            Result vm = java("-accel", "none", "-device", "vfio-user-pci,socket=" + socket);
            assertEquals(0, vm.status, vm.toString());
            assertTrue(vm.out.contains("\n00:01.0 Unclassified device [00ff]: Device [1234:11e8] (rev 10)\n"), vm.out);
            assertEquals(DriverStep.start().size(), vm.out.lines().filter(l -> l.startsWith("  PASS  ")).count(), vm.out);
            assertTrue(vm.out.contains("  00:01.0 vfio-user-pci,socket=" + socket + ", over vfio-user: BAR0 1M"), vm.out);
            p.toHandle().destroy(); // SIGTERM (Process.destroy would also close our end of its output)
            String rest = out.lines().collect(java.util.stream.Collectors.joining("\n")); // until it exits
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "--serve did not stop on SIGTERM");
            assertTrue(rest.contains("jvfio: stopped serving on " + socket + " after 1 client"), rest);
            assertEquals(143, p.exitValue(), "128 + SIGTERM, as a process stopped by the signal");
            assertTrue(!Files.exists(socket), "the socket file is removed");
        } finally {
            p.destroyForcibly();
        }
    }
}
