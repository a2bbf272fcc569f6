# The benchmarks' MMIO loop: reads a 32-bit register r12 times, then tells the VMM it is done with a
# port write and starts over. The VMM sets rbx (the address: a trapped BAR, a directly mapped BAR or
# RAM) and r12 (reads per round) once; each round is one benchmark operation, run by jvfio's vCPU loop
# or by the minimal C loop. With r13 non-zero it writes r14's low 32 bits instead of reading (a
# doorbell, KvmDoorbellBenchmark). GNU as, Intel syntax; linked at 0x10000, entered in 64-bit mode.

        .intel_syntax noprefix
        .code64

        .equ PORT_DONE, 0x502

        .text
        .globl start
start:
        mov     rcx, r12
        test    r13, r13
        jnz     2f
1:      mov     eax, [rbx]              # the access being measured
        dec     rcx
        jnz     1b
        jmp     3f
2:      mov     [rbx], r14d             # or a write: the doorbell
        dec     rcx
        jnz     2b
3:      mov     dx, PORT_DONE
        out     dx, al                  # the round is over: an I/O exit ends the VMM's run
        jmp     start
