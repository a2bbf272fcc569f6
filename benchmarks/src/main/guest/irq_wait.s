# The benchmarks' interrupt guest: enables its local APIC, points every vector at one handler that
# counts interrupts at COUNTER and ends them, then halts with interrupts on, forever. The VMM raises
# an interrupt and waits for COUNTER to move: the guest half of an interrupt's latency.
# GNU as, Intel syntax; linked at 0x10000, entered in 64-bit mode (GDT at 0x1000, code selector 8).

        .intel_syntax noprefix
        .code64

        .equ IDT,      0x2000
        .equ COUNTER,  0x9000
        .equ LAPIC,    0xfee00000

        .text
        .globl start
start:
        mov     edi, IDT                # 256 interrupt gates to handler
        mov     eax, OFFSET handler
        mov     edx, eax
        and     edx, 0xffff
        mov     r8, 0x00008e0000080000  # present 64-bit interrupt gate, selector 0x08
        or      rdx, r8
        mov     r8d, eax
        shr     r8d, 16
        shl     r8, 48
        or      rdx, r8
        xor     ecx, ecx
1:      mov     [rdi], rdx
        mov     qword ptr [rdi + 8], 0
        add     rdi, 16
        inc     ecx
        cmp     ecx, 256
        jb      1b
        lidt    [idtr]
        mov     eax, LAPIC + 0xf0       # spurious-interrupt vector register: APIC on
        mov     dword ptr [rax], 0x1ff
        mov     qword ptr [COUNTER], 0
2:      sti
        hlt
        jmp     2b

handler:
        inc     qword ptr [COUNTER]
        push    rax
        mov     eax, LAPIC + 0xb0       # end of interrupt
        mov     dword ptr [rax], 0
        pop     rax
        iretq

        .balign 8
idtr:
        .word   256 * 16 - 1
        .quad   IDT
