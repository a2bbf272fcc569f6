package io.jvfio.launcher;

import io.jvfio.vfio.nested.NestedVm;
import io.jvfio.vmm.testing.Prerequisites;
import io.jvfio.vmm.testing.TestKernel;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Interoperation with the vfio-user client most users have: QEMU 11's {@code -device vfio-user-pci}
 * (shared/qemu/README.md) boots the test kernel (Linux 6.12, scripts/test-kernel-prepare) under TCG with jvfio's Java edu device, served by the
 * shaded jar's {@code --serve edu} in its own process, as a user would run it. No driver binds the
 * device in the guest; its {@code /init} (qemu11-init.sh beside this class) checks from inside what a
 * driver relies on and prints one line per check on the serial console: IDs, class, capabilities,
 * BAR sizes and placement by Linux, registers, BAR2 shared memory, DMA both ways into reserved guest
 * RAM, MSI-X delivery and the PBA, reset. Every check must be there and pass.
 *
 * <p>QEMU 11 runs from a Debian unstable chroot that {@code scripts/qemu11-prepare} builds once per
 * machine; it is started in a private mount namespace ({@code unshare -m}) that binds /proc, /sys,
 * /dev and /tmp into the chroot, so no mount outlives it. Skipped with the reason where something
 * is missing, unless {@code -Djvfio.qemu11=required} ({@code ./run-tests} sets it), which fails.
 */
class Qemu11InteropIT {

    private static final int BOOT_TIMEOUT_SECONDS = 180;
    private static final int SERVER_START_SECONDS = 60;

    /** Every check the guest's /init makes, in its order. */
    private static final List<String> CHECKS = List.of("find", "ids", "class", "cap-msi", "cap-msix", "caps", "bars",
            "command", "id", "liveness", "factorial", "bar2", "dma-to-device", "dma-to-ram", "msix", "msix-pba", "msi",
            "reset");

    record Qemu11(Path root, Path bzImage, Path busybox) {
    }

    /** {@code jvfio --serve edu} running, and what it has printed so far. */
    record Server(Process process, Thread reader, List<String> out) {
        List<String> lines() {
            synchronized (out) {
                return List.copyOf(out);
            }
        }
    }

    @Test
    void qemusVfioUserClientDrivesTheJavaEduFromALinuxGuest() throws Exception {
        Qemu11 pre = prerequisitesOrSkip();
        Path jar = Path.of(System.getProperty("jvfio.jar", "target/jvfio.jar")).toAbsolutePath();
        assertTrue(Files.isRegularFile(jar), "the shaded jar " + jar + " was not built");
        Path logs = Path.of("target/qemu11-interop").toAbsolutePath();
        NestedVm.deleteTree(logs);
        Files.createDirectories(logs);
        // Under /tmp: the chroot sees the host's /tmp (bound), not the build directory.
        Path work = Files.createTempDirectory(Path.of("/tmp"), "jvfio-qemu11-");
        Server server = null;
        try {
            Path initrd = initramfs(pre, work);
            Path kernel = work.resolve("bzImage");
            Files.copy(pre.bzImage(), kernel);
            Path socket = work.resolve("edu.sock");
            server = startServer(jar, socket);

            Path trace = work.resolve("qemu-trace.log");
            List<String> cmd = List.of("unshare", "-m", "--propagation", "private", "--", "sh", "-ec",
                    "for d in proc sys dev dev/pts tmp; do mount --bind \"/$d\" \"$0/$d\"; done; "
                            + "exec chroot \"$0\" qemu-system-x86_64 \"$@\"", pre.root().toString(),
                    "-accel", "tcg", "-machine", "q35,memory-backend=mem", "-smp", "1", "-m", "1G",
                    // Shared guest RAM: QEMU hands it to the server with DMA_MAP and its memfd.
                    "-object", "memory-backend-memfd,id=mem,size=1G,share=on",
                    "-nographic", "-no-reboot", "-nic", "none",
                    "-kernel", kernel.toString(), "-initrd", initrd.toString(),
                    // 2 MiB at 128 MiB kept from Linux: the DMA target, below edu's 28-bit DMA mask.
                    "-append", "console=ttyS0 panic=-1 no_timer_check memmap=2M$0x8000000", // see NestedVm: TCG under load
                    // Behind a root port, so the guest can reset the device (a secondary bus reset).
                    "-device", "pcie-root-port,id=rp1,chassis=1,slot=1",
                    // QEMU 11 takes the socket as a SocketAddress: only the JSON form reaches it.
                    "-device", "{\"driver\":\"vfio-user-pci\",\"bus\":\"rp1\",\"socket\":{\"type\":\"unix\",\"path\":\""
                            + socket + "\"}}",
                    "-trace", "vfio_user*", "-D", trace.toString());
            Files.writeString(logs.resolve("qemu-command.txt"), String.join(" ", cmd) + "\n");
            NestedVm.Console console = NestedVm.Console.of(cmd, BOOT_TIMEOUT_SECONDS);
            Files.write(logs.resolve("console.log"), console.lines());
            if (Files.exists(trace)) {
                Files.copy(trace, logs.resolve("qemu-trace.log"), StandardCopyOption.REPLACE_EXISTING);
            }
            stopServer(server);
            List<String> served = server.lines();
            Files.write(logs.resolve("server.log"), served);

            Map<String, String> checks = new LinkedHashMap<>();
            String done = null;
            for (String line : console.lines()) {
                // From the marker on: a kernel message may have reached the serial port first.
                int check = line.indexOf("JVFIO-CHECK ");
                int end = line.indexOf("JVFIO-DONE ");
                if (check >= 0) {
                    String[] f = line.substring(check).split(" ", 3);
                    checks.put(f[1], f.length > 2 ? f[2] : "");
                } else if (end >= 0) {
                    done = line.substring(end);
                }
            }
            String report = checks.entrySet().stream().map(e -> "  " + e.getKey() + " " + e.getValue())
                    .collect(Collectors.joining("\n"));
            String context = "\n--- the guest's checks ---\n" + report
                    + "\n--- QEMU's console, last 60 lines (all of it in " + logs.resolve("console.log") + ") ---\n"
                    + console.tail(60)
                    + "\n--- the server's output ---\n" + String.join("\n", served)
                    + "\n--- QEMU's vfio-user trace, last 30 lines (" + logs.resolve("qemu-trace.log") + ") ---\n"
                    + tail(logs.resolve("qemu-trace.log"), 30);
            if (done == null) {
                fail((console.exited() ? "QEMU ended" : "QEMU was stopped after " + BOOT_TIMEOUT_SECONDS + " s")
                        + " before the guest's /init finished, after " + console.millis() + " ms" + context);
            }
            assertEquals(CHECKS, List.copyOf(checks.keySet()), "the guest's checks" + context);
            List<String> failed = checks.entrySet().stream().filter(e -> !e.getValue().startsWith("PASS "))
                    .map(Map.Entry::getKey).toList();
            assertEquals(List.of(), failed, "checks that did not pass" + context);
            assertEquals("JVFIO-DONE " + CHECKS.size() + "/" + CHECKS.size(), done, context);
            // Nothing between its first line and its last: no warning, no error about what QEMU sent.
            assertEquals(2, served.size(), "the server's output" + context);
            assertEquals("jvfio: stopped serving on " + socket + " after 1 client", served.get(1), context);
            System.out.println("QEMU 11 interop: " + console.lines().stream().filter(l -> l.startsWith("JVFIO-BOOTED"))
                    .findFirst().orElse("") + ", " + console.millis() + " ms in all\n" + report);
        } finally {
            if (server != null && server.process().isAlive()) {
                server.process().destroyForcibly();
                server.process().waitFor(10, TimeUnit.SECONDS);
            }
            NestedVm.deleteTree(work);
        }
    }

    /** What the test needs: without it skipped with the reason, or failed under {@code -Djvfio.qemu11=required}. */
    static Qemu11 prerequisitesOrSkip() {
        StringBuilder missing = new StringBuilder();
        Path root = root();
        if (!Files.isExecutable(root.resolve("usr/bin/qemu-system-x86_64"))
                || !Files.isRegularFile(root.resolveSibling("root.done"))) {
            missing.append("QEMU 11 in a Debian unstable chroot at " + root + " (scripts/qemu11-prepare builds it); ");
        }
        if (NestedVm.onPath("unshare") == null || NestedVm.onPath("chroot") == null) {
            missing.append("unshare and chroot (util-linux, coreutils); ");
        }
        if (!isRoot()) {
            missing.append("root (unshare -m and chroot need it); ");
        }
        Path busybox = Path.of("/bin/busybox");
        if (!Files.isExecutable(busybox)) {
            missing.append("/bin/busybox (apt-get install busybox-static); ");
        }
        if (NestedVm.onPath("cpio") == null) {
            missing.append("cpio; ");
        }
        Path kernelDir = TestKernel.dir();
        Path bzImage = kernelDir == null ? null : TestKernel.bzImage(kernelDir);
        if (bzImage == null) {
            missing.append("the test kernel's bzImage" + (kernelDir == null ? "" : " in " + kernelDir) + ", built by "
                    + TestKernel.PREPARE + " (-D" + TestKernel.PROPERTY + "=DIR names the directory it prints); ");
        }
        if (missing.length() == 0) {
            return new Qemu11(root, bzImage, busybox);
        }
        throw Prerequisites.missing("jvfio.qemu11", "the QEMU 11 interop test cannot run here; missing: " + missing
                + "run scripts/qemu11-prepare, scripts/nested-vm-prepare and scripts/test-kernel-prepare (./run-tests does)");
    }

    /** The chroot: {@code -Djvfio.qemu11.root}, else where scripts/qemu11-prepare puts it. */
    private static Path root() {
        String explicit = System.getProperty("jvfio.qemu11.root");
        if (explicit != null && !explicit.isEmpty()) {
            return Path.of(explicit);
        }
        return TestKernel.cache("qemu11").resolve("root");
    }

    private static boolean isRoot() {
        try {
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid") == 0;
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    /** busybox and the /init script of this test's resources: no modules, no driver for the device. */
    private static Path initramfs(Qemu11 pre, Path work) throws IOException, InterruptedException {
        Path root = work.resolve("initramfs");
        for (String d : List.of("bin", "dev", "proc", "sys")) {
            Files.createDirectories(root.resolve(d));
        }
        Files.copy(pre.busybox(), root.resolve("bin/busybox"), StandardCopyOption.COPY_ATTRIBUTES);
        Path init = root.resolve("init");
        try (InputStream in = Qemu11InteropIT.class.getResourceAsStream("qemu11-init.sh")) {
            assertTrue(in != null, "the guest's /init (qemu11-init.sh) is not among the test resources");
            Files.copy(in, init);
        }
        assertTrue(init.toFile().setExecutable(true), "chmod +x " + init);
        Path image = work.resolve("initramfs.cpio.gz");
        NestedVm.pack(root, image);
        return image;
    }

    /** {@code jvfio --serve edu} from the shaded jar; returns once it serves (its first line says so). */
    private static Server startServer(Path jar, Path socket) throws Exception {
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar",
                jar.toString(), "--serve", "edu,socket=" + socket).redirectErrorStream(true).start();
        List<String> out = new ArrayList<>();
        CompletableFuture<String> first = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    synchronized (out) {
                        out.add(line);
                    }
                    first.complete(line);
                }
            } catch (IOException e) {
                // The server is gone; what was read is kept.
            }
            first.complete(null);
        }, "jvfio-serve-output");
        reader.setDaemon(true);
        reader.start();
        Server server = new Server(p, reader, out);
        String line;
        try {
            line = first.get(SERVER_START_SECONDS, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            line = null;
        }
        if (line == null || !line.startsWith("jvfio: serving edu") || !Files.exists(socket)) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            throw new AssertionError("jvfio --serve edu did not start serving on " + socket + " within "
                    + SERVER_START_SECONDS + " s:\n" + String.join("\n", server.lines()));
        }
        return server;
    }

    /** SIGTERM, as a user stops it; its last line says how many clients it served. */
    private static void stopServer(Server s) throws InterruptedException {
        s.process().toHandle().destroy();
        if (!s.process().waitFor(30, TimeUnit.SECONDS)) {
            s.process().destroyForcibly();
            s.process().waitFor(10, TimeUnit.SECONDS);
        }
        s.reader().join(10_000); // to the end of its output
    }

    private static String tail(Path file, int n) throws IOException {
        if (!Files.exists(file)) {
            return "(none)";
        }
        List<String> lines = Files.readAllLines(file);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - n), lines.size()));
    }
}
