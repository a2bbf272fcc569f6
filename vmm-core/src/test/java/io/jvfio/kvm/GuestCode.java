package io.jvfio.kvm;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Small test guests, written in assembly (GNU as, Intel syntax) and assembled with the machine's
 * binutils when the test runs, linked flat at {@link #LOAD}: readable source in the test, real
 * machine code in the guest.
 */
public final class GuestCode {

    /** Where the code is loaded and starts. */
    public static final long LOAD = 0x10000;

    /**
     * The interrupt macros every jvfio guest program shares (vmm-core's
     * {@code io/jvfio/kvm/x86-interrupts.inc}, included in every test guest): {@code apic_on_with_gate
     * VECTOR, HANDLER} software-enables the local APIC and loads an IDT at 0x2000 whose entry VECTOR
     * is a 64-bit interrupt gate (selector 0x08) to HANDLER (clobbers rax, rdx, rdi, r8);
     * {@code apic_on}, {@code apic_eoi}, {@code idt_gate}, {@code idt_load}; {@code IDT}, {@code LAPIC}.
     */
    static final String INTERRUPTS = "x86-interrupts.inc";

    private GuestCode() {
    }

    /** Assembles {@code source} (64-bit, Intel syntax; execution starts at its first instruction). */
    public static byte[] assemble(String source) throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory("jvfio-guest");
        try {
            Path s = dir.resolve("guest.s");
            Path o = dir.resolve("guest.o");
            Path bin = dir.resolve("guest.bin");
            Files.write(dir.resolve(INTERRUPTS), include());
            Files.writeString(s, ".intel_syntax noprefix\n.code64\n.include \"" + INTERRUPTS + "\"\n.text\n"
                    + ".globl start\nstart:\n" + source + "\n", StandardCharsets.UTF_8);
            run(dir, List.of("as", "--64", "-I", dir.toString(), "-o", o.toString(), s.toString()));
            run(dir, List.of("ld", "-m", "elf_x86_64", "-Ttext=0x" + Long.toHexString(LOAD), "-e", "start",
                    "--oformat=binary", "-o", bin.toString(), o.toString()));
            return Files.readAllBytes(bin);
        } finally {
            try (var files = Files.list(dir)) {
                for (Path p : files.toList()) {
                    Files.delete(p);
                }
            }
            Files.delete(dir);
        }
    }

    private static byte[] include() throws IOException {
        try (InputStream in = GuestCode.class.getResourceAsStream("/io/jvfio/kvm/" + INTERRUPTS)) {
            if (in == null) {
                throw new IOException("io/jvfio/kvm/" + INTERRUPTS + " is not on the class path: it is vmm-core's "
                        + "resource (vmm-core/src/main/resources)");
            }
            return in.readAllBytes();
        }
    }

    private static void run(Path dir, List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed:\n" + out);
        }
    }
}
