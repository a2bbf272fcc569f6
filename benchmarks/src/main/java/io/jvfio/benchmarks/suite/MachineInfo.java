package io.jvfio.benchmarks.suite;

import io.jvfio.kvm.Kvm;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** One line about the machine a run was made on: CPU, cores, memory, kernel, JDK, KVM. */
final class MachineInfo {

    private MachineInfo() {
    }

    static String describe() {
        List<String> cpuinfo = lines("/proc/cpuinfo");
        String model = cpuinfo.stream().filter(l -> l.startsWith("model name")).map(l -> l.substring(l.indexOf(':') + 1)
                .trim()).findFirst().orElse("an unknown CPU");
        boolean virtual = cpuinfo.stream().anyMatch(l -> l.startsWith("flags") && l.contains(" hypervisor"));
        String mem = lines("/proc/meminfo").stream().filter(l -> l.startsWith("MemTotal:")).map(l -> {
            long kb = Long.parseLong(l.replaceAll("[^0-9]", ""));
            return String.format("%.0f GiB", kb / 1024.0 / 1024.0);
        }).findFirst().orElse("? GiB");
        String kvm = !Kvm.usable() ? "no KVM" : virtual ? "KVM nested inside the host's VM "
                + "(guest kernel-mode code is emulated here, so guest-side times include that emulation)" : "KVM";
        return String.format("%d CPUs (%s), %s of RAM%s, Linux %s, %s %s; %s",
                Runtime.getRuntime().availableProcessors(), model, mem, virtual ? ", itself a virtual machine" : "",
                System.getProperty("os.version"), System.getProperty("java.vm.name"),
                System.getProperty("java.runtime.version"), kvm);
    }

    private static List<String> lines(String file) {
        try {
            return Files.readAllLines(Path.of(file));
        } catch (IOException e) {
            return List.of();
        }
    }
}
