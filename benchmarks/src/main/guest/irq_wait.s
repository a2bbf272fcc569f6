# The benchmarks' interrupt guest: enables its local APIC, points every vector at one handler that
# counts interrupts at COUNTER and ends them, then halts with interrupts on, forever. The VMM raises
# an interrupt and waits for COUNTER to move: the guest half of an interrupt's latency.
# GNU as, Intel syntax; linked at 0x10000, entered in 64-bit mode (GDT at 0x1000, code selector 8).

        .intel_syntax noprefix
        .code64
        .include "x86-interrupts.inc"  # IDT, LAPIC, idt_gate, idt_load, apic_on, apic_eoi (vmm-core's)

        .equ COUNTER,  0x9000

        .text
        .globl start
start:
        mov     edi, IDT                # 256 interrupt gates to handler
        xor     ecx, ecx
1:      mov     eax, OFFSET handler
        idt_gate
        add     rdi, 16
        inc     ecx
        cmp     ecx, 256
        jb      1b
        idt_load
        apic_on
        mov     qword ptr [COUNTER], 0
2:      sti
        hlt
        jmp     2b

handler:
        inc     qword ptr [COUNTER]
        push    rax
        apic_eoi
        pop     rax
        iretq
