package io.jvfio.kvm;

import java.io.IOException;
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
     * Macros every test guest may use. {@code apic_on_with_gate VECTOR, HANDLER}: software-enables
     * the local APIC (spurious-interrupt vector register) and loads an IDT at 0x2000 whose entry
     * VECTOR is a 64-bit interrupt gate (selector 0x08) to HANDLER. Clobbers rax, rdx, rdi, r8.
     */
    static final String MACROS = """
            .macro apic_on_with_gate vector, handler
                mov eax, 0xfee000f0
                mov dword ptr [rax], 0x1ff
                mov edi, 0x2000 + \\vector * 16
                mov eax, OFFSET \\handler
                mov edx, eax
                and edx, 0xffff
                mov r8, 0x00008e0000080000
                or rdx, r8
                mov r8d, eax
                shr r8d, 16
                shl r8, 48
                or rdx, r8
                mov [rdi], rdx
                mov qword ptr [rdi + 8], 0
                lidt [idtr_\\@]
                jmp 9f
                .balign 8
            idtr_\\@:
                .word 256 * 16 - 1
                .quad 0x2000
            9:
            .endm
            """;

    private GuestCode() {
    }

    /** Assembles {@code source} (64-bit, Intel syntax; execution starts at its first instruction). */
    public static byte[] assemble(String source) throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory("jvfio-guest");
        try {
            Path s = dir.resolve("guest.s");
            Path o = dir.resolve("guest.o");
            Path bin = dir.resolve("guest.bin");
            Files.writeString(s, ".intel_syntax noprefix\n.code64\n" + MACROS + ".text\n.globl start\nstart:\n" + source
                    + "\n", StandardCharsets.UTF_8);
            run(dir, List.of("as", "--64", "-o", o.toString(), s.toString()));
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

    private static void run(Path dir, List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed:\n" + out);
        }
    }
}
