package io.jvfio.benchmarks.suite;

import io.jvfio.vmm.testing.OnKvm;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The suite as {@code ./run-benchmarks --quick} runs it, from the shaded jar in its own JVM: every
 * benchmark runs (forks, guests, the C loop compiled with cc, vfio-user servers) and the report and
 * plots are written. What it checks are facts the benchmarks observe (exit counts, interrupts
 * counted, allocation), never a time.
 */
@OnKvm
class SuiteSmokeIT {

    @Test
    void theQuickSuiteRunsEveryBenchmarkAndWritesTheReport() throws Exception {
        Path jar = Path.of(System.getProperty("benchmarks.jar", "target/benchmarks.jar"));
        assertTrue(Files.isRegularFile(jar), "the shaded jar " + jar + " was not built");
        Path out = Path.of("target/suite-smoke").toAbsolutePath();
        Path readme = out.resolve("PERFORMANCE.md");
        Files.createDirectories(out);
        Files.writeString(readme, "# before\n" + Report.BEGIN + "\nold\n" + Report.END + "\n# after\n");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Djava.awt.headless=true", "-cp", jar.toString(), Suite.class.getName(), "--quick", "--out",
                out.toString(), "--readme", readme.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.resolve("suite.log").toFile())
                .start();
        assertTrue(p.waitFor(10, TimeUnit.MINUTES), "the quick suite did not finish in 10 minutes");
        String log = Files.readString(out.resolve("suite.log"));
        assertEquals(0, p.exitValue(), log.substring(Math.max(0, log.length() - 4000)));

        String report = Files.readString(out.resolve("README.md"));
        boolean kvm = io.jvfio.vmm.testing.Prerequisites.kvmRunWanted();
        for (Row r : Catalogue.rows()) {
            assertTrue(report.contains("| " + r.label()), r.label() + " missing from the report");
        }
        // Without /dev/kvm the KVM rows say "not run" (and why); every other one has its figures. Where
        // KVM is usable, and always under -Djvfio.kvm=required (kvmRunWanted fails first where it is
        // not), a row that was not run fails the test rather than passing with less measured.
        assertTrue(!kvm || !report.contains("not run"), "/dev/kvm is usable here"
                + (io.jvfio.vmm.testing.Prerequisites.required(io.jvfio.vmm.testing.Prerequisites.KVM)
                        ? " and -Djvfio.kvm=required" : "") + ", yet the suite left rows \"not run\":\n" + report);
        for (String plot : List.of("config-space", "mmio-dispatch", "interrupts-apic", "vfio-user")) {
            byte[] head = java.util.Arrays.copyOf(Files.readAllBytes(out.resolve(plot + ".png")), 8);
            assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, head, plot);
        }
        if (kvm) {
            assertTrue(Files.exists(out.resolve("kvm-mmio.png")));
            assertTrue(report.matches("(?s).*directly mapped BAR read \\(a memory slot, no exit\\): [0-9,]+ reads, 0 MMIO "
                    + "exits.*"), "direct reads cause no exit");
            assertTrue(report.matches("(?s).*through jvfio's vCPU loop: [0-9,]+ reads, [0-9,]+ MMIO exits \\(1\\.00 per "
                    + "read\\).*"), "one exit per trapped read");
            assertTrue(report.matches("(?s).*irqfd bypass \\(the kernel delivers\\), guest handler: ([0-9,]+) raised, \\1 "
                    + "counted.*"), "every interrupt raised is counted by the guest");
        }
        assertTrue(report.contains("allocated 0 bytes in all threads"), "the hot paths allocate nothing:\n" + report);
        String section = Files.readString(readme);
        assertTrue(section.startsWith("# before\n" + Report.BEGIN + "\n") && section.endsWith(Report.END + "\n# after\n"),
                section);
        assertTrue(section.contains("](config-space.png)"), "plots are linked relative to the regenerated file:\n"
                + section);
        assertTrue(!section.contains("\nold\n"), "the old section is replaced");
    }
}
