# The benchmarks' MMIO loop: reads a 32-bit register rcx times, then tells the VMM it is done with a
# port write and starts over. The VMM sets rbx (the address: a trapped BAR, a directly mapped BAR or
# RAM) and r12 (reads per round) once; each round is one benchmark operation, run by jvfio's vCPU loop
# or by the minimal C loop. GNU as, Intel syntax; linked at 0x10000, entered in 64-bit mode.

        .intel_syntax noprefix
        .code64

        .equ PORT_DONE, 0x502

        .text
        .globl start
start:
        mov     rcx, r12
1:      mov     eax, [rbx]              # the access being measured
        dec     rcx
        jnz     1b
        mov     dx, PORT_DONE
        out     dx, al                  # the round is over: an I/O exit ends the VMM's run
        jmp     start
