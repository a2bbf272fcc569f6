package io.jvfio.vfio.nested;

import io.jvfio.vmm.testing.TestKernel;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The VM of shared/nested/README.md: QEMU (software emulation) with an emulated Intel IOMMU (or, with
 * {@link #bootWithoutIommu}, none, and VFIO's no-IOMMU mode on), the test
 * kernel ({@link TestKernel}: Debian's linux-source-6.12 with everything the tests need built in), a
 * busybox initramfs that mounts this machine's root file system read-only over 9p and runs a Java
 * program from the project's own class path inside it, against the guest's real {@code /dev/vfio}. Its
 * serial console is QEMU's stdout. The launcher's end-to-end test boots it too (this class is in
 * vfio-passthrough's test jar).
 */
public final class NestedVm {

    public static final String DONE = "JVFIO-NESTED: exit ";

    /** What the VM needs, and where it was found. */
    public record Prerequisites(Path qemu, Path busybox, Path kernelDir, Path bzImage) {
    }

    /**
     * The VM's console, whether it reached the end of its script, and how QEMU ended ({@code qemuStatus}:
     * its exit status, or -1 where it was stopped at the bound) with QEMU's own log of resets and guest
     * errors ({@code qemuLog}).
     */
    public record Run(List<String> lines, boolean finished, int exitCode, long millis, int qemuStatus, Path qemuLog) {
        public String tail(int n) {
            return String.join("\n", lines.subList(Math.max(0, lines.size() - n), lines.size()));
        }

        /**
         * Why a VM that did not finish its script ended, for a test's failure message: the bound, or
         * QEMU's exit status and what it means here, and what QEMU logged of resets and guest errors.
         */
        public String ending(int timeoutSeconds) {
            StringBuilder s = new StringBuilder("the nested VM ended before its script finished, after ")
                    .append(millis).append(" ms: ");
            if (qemuStatus < 0) {
                s.append("QEMU was stopped at the bound of ").append(timeoutSeconds).append(" s");
            } else if (qemuStatus == 0) {
                s.append("QEMU exited with status 0: the guest reset (QEMU runs with -no-reboot, so a reset ends it; "
                        + "a kernel panic, panic=-1, or a triple fault) or powered off");
            } else if (qemuStatus > 128) {
                int signal = qemuStatus - 128;
                s.append("QEMU was killed by signal ").append(signal).append(switch (signal) {
                    case 9 -> " (SIGKILL: from outside, such as the kernel's OOM killer)";
                    case 6 -> " (SIGABRT: an assertion in QEMU)";
                    case 11 -> " (SIGSEGV: QEMU crashed)";
                    default -> "";
                });
            } else {
                s.append("QEMU exited with status ").append(qemuStatus).append(" (an error it printed on the console)");
            }
            s.append("; QEMU's log of resets and guest errors (").append(qemuLog).append("): ");
            List<String> log = QemuLog.events(qemuLog);
            s.append(log.isEmpty() ? "nothing" : "\n  " + String.join("\n  ", log));
            return s.toString();
        }
    }

    /** QEMU's {@code -d cpu_reset,guest_errors} log, without the register dumps that follow each reset. */
    static final class QemuLog {
        private static final java.util.regex.Pattern DUMP = java.util.regex.Pattern.compile(
                "^\\s*([A-Z][A-Z0-9]{1,4}\\s*=|[A-Z]{2}\\s*=|[A-Z][A-Z0-9]{1,4}\\s*\\[|XMM|YMM|ZMM|FPR|FCW|FSW|MXCSR|DR[0-9]|CCS|PKRU|EFER|TSC|Opmask).*");

        static List<String> events(Path log) {
            try {
                if (log == null || !Files.exists(log)) {
                    return List.of();
                }
                List<String> all = Files.readAllLines(log, StandardCharsets.ISO_8859_1).stream()
                        .filter(l -> !l.isBlank() && !DUMP.matcher(l).matches()).toList();
                return all.subList(Math.max(0, all.size() - 40), all.size());
            } catch (IOException e) {
                return List.of("(unreadable: " + e.getMessage() + ")");
            }
        }
    }

    /**
     * What the VM needs, for a test: without it the test is skipped with the reason, or fails with it
     * when {@code -Djvfio.nested=required} ({@code ./run-tests} sets it).
     */
    public static Prerequisites prerequisitesOrSkip() {
        StringBuilder missing = new StringBuilder();
        Optional<Prerequisites> pre = find(missing);
        if (pre.isPresent()) {
            return pre.get();
        }
        String why = "the nested VFIO VM cannot start here; missing: " + missing
                + "run scripts/nested-vm-prepare and scripts/test-kernel-prepare (./run-tests does)";
        throw io.jvfio.vmm.testing.Prerequisites.missing("jvfio.nested", why);
    }

    public static Optional<Prerequisites> find(StringBuilder missing) {
        Path qemu = onPath("qemu-system-x86_64");
        Path busybox = Path.of("/bin/busybox");
        if (qemu == null) {
            missing.append("qemu-system-x86_64 (apt-get install qemu-system-x86); ");
        }
        if (!Files.isExecutable(busybox)) {
            missing.append("/bin/busybox (apt-get install busybox-static); ");
        }
        if (onPath("cpio") == null) {
            missing.append("cpio; ");
        }
        Path kernelDir = TestKernel.dir();
        Path bzImage = kernelDir == null ? null : TestKernel.bzImage(kernelDir);
        if (kernelDir == null) {
            missing.append("the test kernel, built by " + TestKernel.PREPARE + "; ");
        } else if (bzImage == null) {
            missing.append("a kernel in " + kernelDir + " (no bzImage there: -D" + TestKernel.PROPERTY
                    + " names the directory that " + TestKernel.PREPARE + " prints); ");
        }
        if (missing.length() > 0) {
            return Optional.empty();
        }
        return Optional.of(new Prerequisites(qemu, busybox, kernelDir, bzImage));
    }

    public static Path onPath(String name) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            Path p = Path.of(dir, name);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    private final Prerequisites pre;
    private final Path work;

    /**
     * The options of a JVM in the VM: its scratch space for temporary files (the host's file system is
     * read-only there), and a quick start under TCG (C1 only, the serial GC, no perf data).
     */
    public static final List<String> JVM_OPTIONS = List.of("-Djava.io.tmpdir=/dev/shm", "-Djna.tmpdir=/dev/shm",
            "-XX:-UsePerfData", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto");

    /**
     * The script for {@link #boot} that runs {@code mainClass} with {@code args} in the VM, on this JVM
     * and its class path (the VM sees this machine's file system), with the VM's scratch space for
     * temporary files.
     */
    public static String javaScript(String mainClass, String args) {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return "#!/bin/sh\n"
                + "# Runs inside the nested VM, chrooted into this machine's file system.\n"
                + "# The host's file system is read-only there; /dev/shm is the VM's scratch space.\n"
                + "export HOME=/dev/shm\n"
                + "exec " + java + " " + String.join(" ", JVM_OPTIONS)
                + " -cp '" + System.getProperty("java.class.path") + "' " + mainClass + (args.isEmpty() ? "" : " " + args)
                + "\n";
    }

    public NestedVm(Prerequisites pre, Path work) {
        this.pre = pre;
        this.work = work;
    }

    /**
     * Builds the initramfs: busybox and an /init that runs {@code jvfio.run=} from the kernel command
     * line. No modules: virtio, 9p and VFIO are built into the test kernel.
     */
    Path initramfs() throws IOException, InterruptedException {
        Path root = work.resolve("initramfs");
        deleteTree(root);
        for (String d : List.of("bin", "dev", "proc", "sys", "host")) {
            Files.createDirectories(root.resolve(d));
        }
        Files.copy(pre.busybox(), root.resolve("bin/busybox"), StandardCopyOption.COPY_ATTRIBUTES);
        Path init = root.resolve("init");
        Files.writeString(init, """
                #!/bin/busybox sh
                /bin/busybox --install -s /bin
                mount -t proc proc /proc
                mount -t sysfs sys /sys
                mount -t devtmpfs dev /dev
                mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host /host || echo "JVFIO-NESTED: no 9p"
                mount --bind /dev /host/dev
                mount --bind /proc /host/proc
                mount --bind /sys /host/sys
                # Scratch space for the JVM where it hides nothing of the host (the build may live in /tmp).
                mkdir -p /host/dev/shm
                mount -t tmpfs shm /host/dev/shm
                run=$(sed -n 's/.*jvfio.run=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
                echo "JVFIO-NESTED: booted in $(cut -d' ' -f1 /proc/uptime) s"
                chroot /host /bin/sh "$run"
                echo "JVFIO-NESTED: exit $?"
                poweroff -f
                """);
        init.toFile().setExecutable(true);
        Path image = work.resolve("initramfs.cpio.gz");
        pack(root, image);
        return image;
    }

    /** Packs {@code root} as an initramfs (newc cpio, gzip) into {@code image}. */
    public static void pack(Path root, Path image) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("sh", "-c", "cd '" + root + "' && find . | cpio -o -H newc 2>/dev/null | gzip -1 > '"
                + image + "'").inheritIO().start();
        if (p.waitFor() != 0) {
            throw new IOException("packing the initramfs failed");
        }
    }

    /**
     * Boots with {@code devices} (QEMU -device arguments and their helpers) and runs {@code script}
     * (a shell script on this machine's file system) inside; returns the console when the script ends,
     * the VM dies, or {@code timeoutSeconds} pass.
     */
    public Run boot(List<String> devices, Path script, int timeoutSeconds) throws IOException, InterruptedException {
        return boot(List.of("-M", "q35,kernel-irqchip=split", "-device", "intel-iommu,intremap=on"), "intel_iommu=on",
                devices, script, timeoutSeconds);
    }

    /**
     * Boots as {@link #boot} does, but with no IOMMU (q35 without intel-iommu) and VFIO's no-IOMMU mode
     * on ({@code vfio.enable_unsafe_noiommu_mode=1}; the test kernel has CONFIG_VFIO_NOIOMMU): a device
     * bound to vfio-pci then gets {@code /dev/vfio/noiommu-N}, and the kernel taints.
     */
    public Run bootWithoutIommu(List<String> devices, Path script, int timeoutSeconds)
            throws IOException, InterruptedException {
        return boot(List.of("-M", "q35"), "vfio.enable_unsafe_noiommu_mode=1", devices, script, timeoutSeconds);
    }

    private Run boot(List<String> machine, String iommuArgs, List<String> devices, Path script, int timeoutSeconds)
            throws IOException, InterruptedException {
        Path initrd = initramfs();
        // One emulation thread for both vCPUs (thread=single), as scripts/nested-kvm has: with a thread per
        // vCPU (QEMU 7.2's default), the guest kernel died now and then on this busy 2-core host (an int3
        // that its live code patching of a static key had left, hit on the other vCPU: "Oops: int3" in
        // sched_clock_cpu, seen in 1 of 7 boots here; CI's VM ended silently mid-probe once), a race that
        // one thread cannot run.
        List<String> cmd = new ArrayList<>(List.of(pre.qemu().toString(), "-accel", "tcg,thread=single"));
        cmd.addAll(machine);
        cmd.addAll(List.of("-smp", "2", "-m", "2048",
                "-nographic", "-no-reboot", "-nic", "none",
                "-kernel", pre.bzImage().toString(), "-initrd", initrd.toString(),
                // no_timer_check: under TCG on a loaded host the kernel's check that the timer interrupt
                // comes through the (interrupt-remapped) IOAPIC can miss its window and panic ("timer
                // doesn't work through Interrupt-remapped IO-APIC"), as CI saw once with helpers' builds
                // running beside it; the check tests the emulation's speed, not the kernel VFIO under test.
                "-append", "console=ttyS0 quiet panic=-1 no_timer_check " + iommuArgs + " jvfio.run=" + script,
                "-virtfs", "local,path=/,mount_tag=host,security_model=passthrough,readonly=on,multidevs=remap"));
        // QEMU's own account of how the VM ends: every CPU reset (a triple fault says so) and each guest
        // access QEMU found invalid, so a VM that ends early says why.
        Path qemuLog = work.resolve("qemu-debug.log");
        Files.deleteIfExists(qemuLog);
        cmd.addAll(List.of("-d", "cpu_reset,guest_errors", "-D", qemuLog.toString()));
        cmd.addAll(devices);
        Files.writeString(work.resolve("qemu-command.txt"), String.join(" ", cmd) + "\n");
        Console console = Console.of(cmd, timeoutSeconds);
        List<String> out = console.lines();
        long millis = console.millis();
        Files.write(work.resolve("console.log"), out);
        int exitCode = -1;
        boolean finished = false;
        for (String l : out) {
            int at = l.indexOf(DONE);
            if (at >= 0) {
                finished = true;
                exitCode = Integer.parseInt(l.substring(at + DONE.length()).trim());
            }
        }
        return new Run(out, finished, exitCode, millis, console.status(), qemuLog);
    }

    /**
     * A VM's serial console: runs {@code cmd} (QEMU, its serial console on stdout, stderr merged) until
     * it exits or {@code timeoutSeconds} pass (then it is killed), and keeps its lines, terminal
     * escapes and carriage returns removed, and QEMU's exit status (-1 where it was killed at the bound).
     */
    public record Console(List<String> lines, boolean exited, long millis, int status) {
        public static Console of(List<String> cmd, int timeoutSeconds) throws IOException, InterruptedException {
            long start = System.nanoTime();
            Process qemu = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            List<String> lines = new ArrayList<>();
            Thread reader = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(qemu.getInputStream(),
                        StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) {
                        String clean = line.replaceAll("\u001B\\[[0-9;?]*[A-Za-z]", "").replace("\r", "");
                        synchronized (lines) {
                            lines.add(clean);
                        }
                    }
                } catch (IOException e) {
                    // The VM is gone; what was read is kept.
                }
            }, "vm-console");
            reader.start();
            boolean exited = qemu.waitFor(timeoutSeconds, TimeUnit.SECONDS);
            if (!exited) {
                qemu.destroyForcibly();
                qemu.waitFor(10, TimeUnit.SECONDS);
            }
            reader.join(5000);
            long millis = (System.nanoTime() - start) / 1_000_000;
            synchronized (lines) {
                return new Console(List.copyOf(lines), exited, millis, exited ? qemu.exitValue() : -1);
            }
        }

        public String tail(int n) {
            return String.join("\n", lines.subList(Math.max(0, lines.size() - n), lines.size()));
        }
    }

    public static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted((a, b) -> b.getNameCount() - a.getNameCount()).toList()) {
                Files.delete(q);
            }
        }
    }
}
