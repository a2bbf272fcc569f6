# jvfio's built-in guest driver: a small 64-bit program the launcher loads into guest RAM and runs on
# a vCPU. It does what a real driver does with an edu-compatible PCI device: finds it through
# configuration mechanism #1 (ports 0xcf8/0xcfc), sizes and places its BARs (memory BARs in the MMIO
# window, I/O BARs in the I/O window), turns on their decode and bus mastering, and runs edu's steps: id, liveness, factorial, a DMA round trip RAM -> device ->
# RAM with a compare, an interrupt (MSI-X, else MSI) taken by its IDT handler, an interrupt storm,
# and timed loops of trapped (a memory BAR's, else an I/O BAR's) and of directly mapped BAR accesses. Each step's result goes into a
# record in the mailbox, announced on the report port. GNU as, Intel syntax; linked at 0x10000.
#
# The VMM has set up long mode (identity-mapped 0-4 GiB, CS 0x08, DS/SS 0x10), the stack, and the
# mailbox's inputs. Guest kernel-mode code is emulated instruction by instruction on the machines this
# runs on (~1 us each): the loops are short, and no instruction here is one the emulator refuses.

        .intel_syntax noprefix
        .code64
        .include "x86-interrupts.inc"  # IDT, LAPIC, idt_gate, idt_load, apic_on, apic_eoi (vmm-core's)

        .equ MAILBOX,       0x9000      # shared with the VMM: inputs, records, samples' counts
        .equ DMA_SRC,       0x100000
        .equ DMA_DST,       0x101000
        .equ DMA_BYTES,     256
        .equ SAMPLES_TRAPPED, 0x200000
        .equ SAMPLES_DIRECT,  0x280000
        .equ SAMPLES_IRQ,     0x300000

        .equ PORT_REPORT,   0x500       # out (a byte, as all four): a step's record is ready (al = step)
        .equ PORT_QUERY,    0x501       # out: the VMM fills in trapped_addr and direct_addr
        .equ PORT_DONE,     0x502       # out: the driver is finished
        .equ PORT_FAULT,    0x503       # out: a CPU exception (al = vector)
        .equ PORT_HOTPLUG,  0x504       # out: a hotplug event (al = HP_*), its details in the mailbox
        .equ PORT_MIGRATED, 0x505       # in (a byte): 0 while the source's VMM runs the guest, 1 once the
                                        # destination's does (the migration step's soak ends on it)
        .equ HP_SERVING, 1              # the ports are set up (MB_HP_COUNT, MB_HP_PORTS)
        .equ HP_BEGIN, 2                # a hot-added device's step records follow
        .equ HP_END, 3                  # and are complete
        .equ HP_NOT_UP, 4               # presence detected, but the slot or device did not come up
        .equ HP_REMOVED, 5              # attention button: quiesced, powered off
        .equ HP_EMPTY, 6                # the slot is empty
        .equ CONFIG_ADDRESS, 0xcf8
        .equ CONFIG_DATA,    0xcfc

        # mailbox offsets
        .equ MB_WINDOW,     0x00        # in: where memory BARs go
        .equ MB_LOOPS,      0x08        # in: timed-loop iterations
        .equ MB_IRQ_LOOPS,  0x10        # in: interrupts in the storm
        .equ MB_TARGET,     0x18        # in: devfn to drive, or 0xffff for the first edu
        .equ MB_TRAPPED,    0x20        # in at PORT_QUERY: an address in a trapped BAR, or 0
        .equ MB_DIRECT,     0x28        # in at PORT_QUERY: an address in a directly mapped BAR, or 0
        .equ MB_IRQ_COUNT,  0x30        # the handler counts here
        .equ MB_IRQ_TSC,    0x38        # and stamps the TSC here
        .equ MB_DEVFN,      0x40
        .equ MB_IDS,        0x48
        .equ MB_IS_EDU,     0x50
        .equ MB_BAR_ADDR,   0x60        # [6] u64
        .equ MB_BAR_SIZE,   0x90        # [6] u64
        .equ MB_IO_WINDOW,  0xe0        # in: where I/O BARs go (a port number)
        .equ MB_BAR_IO,     0xe8        # bit i: BAR i is an I/O BAR
        .equ MB_TRAPPED_IO, 0xf0        # in at PORT_QUERY: 1 if MB_TRAPPED is a port (an I/O BAR)
        .equ MB_RECORDS,    0x100       # [16] x 32 bytes: status, a, b, c
        # the INTx step's state, shared with its handler
        .equ MB_INTX_COUNT,    0x400    # the INTx handler counts here
        .equ MB_INTX_SPURIOUS, 0x408    # handler entries that found the device's status clear
        .equ MB_INTX_BASE,     0x410    # BAR0: an MMIO address or an I/O port
        .equ MB_INTX_IO,       0x418    # 1: BAR0 is I/O space
        .equ MB_INTX_RAISE,    0x420    # register offsets in BAR0: raise,
        .equ MB_INTX_ACK,      0x428    # acknowledge (write 1),
        .equ MB_INTX_STATUS,   0x430    # status (bit 0: the interrupt is pending)
        .equ MB_INTX_EARLY,    0x438    # handler entries that found INTX_VECTOR not in service
        .equ MB_INTX_UART,     0x440    # 1: the 16550 recipe (byte registers, not raise/ack/status)
        # several vCPUs (APIC ID = vCPU number, KVM's default and the virtual APICs')
        .equ MB_CPUS,       0x460       # in: the vCPUs, 1-255
        .equ MB_IDT_READY,  0x468       # 1 once the BSP has built the IDT the APs load
        .equ MB_WAIT_TSC,   0x470       # in: TSC ticks the driver waits for the device (or a vCPU) at most
        .equ MB_SETTLE_TSC, 0x478       # in: TSC ticks it watches for an interrupt delivered twice
        .equ MB_DEADLINE,   0x480       # the BSP's current polling deadline (TSC)
        .equ MB_IRQ_COUNT_CPU, 0x800    # [255] u64: the handler counts here too, by the APIC ID it runs on
        .equ MB_AP_READY,   0x1000      # [255] u64: 1 once that AP takes interrupts (past the mailbox's page)
        .equ MB_IRQ_SNAP,   0x1800      # [255] u64: MB_IRQ_COUNT_CPU after step 8, for the storm's counts
        # the BARs as sized (step 2, and the hotplug service's)
        .equ MB_BAR_WIDE,   0x4f8       # bit i: BAR i is a 64-bit memory BAR
        .equ MB_BARS_MEM,   0x500       # memory BARs sized
        .equ MB_BARS_IO,    0x508       # I/O BARs sized
        .equ MB_MEM_END,    0x510       # one past the start's memory BARs, and
        .equ MB_IO_END,     0x518       # its I/O BARs: the hotplug service's windows go above
        # the hotplug service (HotplugReport.java has its words; GuestDriver.java reads these)
        .equ MB_HOT,        0x488       # 1 while the steps run on a hot-added device (INTx skipped)
        .equ MB_HP_IRQS,    0x490       # the hotplug interrupt's handler counts here
        .equ MB_HP_SEEN,    0x498       # MB_HP_IRQS when the service loop last looked at the ports
        .equ MB_HP_ANY,     0x4f0       # 1 if a port had events in this look
        .equ MB_HP_COUNT,   0x4a0       # root ports served
        .equ MB_HP_NEXT_MEM, 0x4a8      # the next free memory for a port's window (1 MiB aligned)
        .equ MB_HP_NEXT_IO, 0x4b0       # the next free port for a port's I/O window (4 KiB aligned)
        .equ MB_HP_PORT,    0x4b8       # out at PORT_HOTPLUG: the port's index in MB_HP_PORTS,
        .equ MB_HP_BDF,     0x4c0       # the device's bus << 8 | devfn,
        .equ MB_HP_IDS,     0x4c8       # its IDs,
        .equ MB_HP_HOW,     0x4d0       # bit 0 powered on (command completed), 1 link active, 2 indicator on
        .equ MB_HP_WHY,     0x4d8       # 1 power-on not completed, 2 no link, 3 no function (HP_NOT_UP)
        .equ MB_HP_DONE,    0x4e0       # HP_REMOVED: 1 if the power-off command completed
        .equ MB_HP_FITS,    0x4e8       # HP_BEGIN: 1 if the windows had room for the BARs
        # the migration step (GuestDriver.java reads these; HostDriver keeps its own progress here too)
        .equ MB_MIG_REQ,    0x600       # in: 1 when the VMM asks for the migration step (before its MSI)
        .equ MB_MIG_IRQS,   0x608       # the migration request's handler counts here
        .equ MB_MIG_ITER,   0x610       # the soak's last iteration k (page k mod MIG_PAGES holds k + 1)
        .equ MB_MIG_KIND,   0x618       # the device's interrupt left on: 1 MSI-X, 2 MSI, 0 none
        .equ MB_MIG_HAVE,   0x620       # 1: the start drove a device (saved at MB_MIG_START)
        .equ MB_MIG_START,  0x640       # the start's device, as the hotplug service may overwrite it:
                                        # MB_DEVFN up to MB_RECORDS (24 qwords), then MB_BAR_WIDE,
                                        # MB_BARS_MEM, MB_BARS_IO (3)
        .equ MB_HP_PORTS,   0x2000      # [16] x HP_ENTRY bytes, one per root port:
        .equ HP_ENTRY,      128
        .equ HP_DEVFN,      0           #   its devfn on bus 0,
        .equ HP_EXP,        8           #   its PCI Express capability,
        .equ HP_SLOTCAP,    16          #   Slot Capabilities,
        .equ HP_SECONDARY,  24          #   its secondary bus,
        .equ HP_MEM_BASE,   32          #   its windows (limit below base: none; base -1: never given)
        .equ HP_MEM_LIMIT,  40
        .equ HP_IO_BASE,    48
        .equ HP_IO_LIMIT,   56
        .equ HP_LINK,       64          #   1: DLL Link Active Reporting (Link Capabilities)
        .equ HP_OCCUPIED,   72          #   1: the slot's presence has been handled
        .equ HP_DEVICE,     80          #   the function driven behind it, or -1
        .equ HP_REMOVING,   88          #   1: powered off for removal
        .equ HP_PENDING,    96          #   events seen while waiting for something else
        .equ HP_EVENTS,     104         #   the events being handled
        .equ HP_MAX_PORTS,  16

        # a 16550's registers, bytes at BAR0 + n (the 8250's register set, which its successors keep)
        .equ UART_IER, 1                # interrupt enable; bit 1: transmitter holding register empty
        .equ UART_IIR, 2                # interrupt identification; reading it while THR-empty is the
                                        # pending source clears that source
        .equ UART_IER_THRI, 0x02
        .equ UART_IIR_THRI, 0x02        # bits 3..0: 0b0010, an interrupt pending (bit 0 clear), THR empty

        .equ PASS, 1
        .equ FAIL, 2
        .equ SKIP, 3

        # steps, in order
        .equ S_FIND, 1
        .equ S_BARS, 2
        .equ S_ENABLE, 3
        .equ S_ID, 4
        .equ S_LIVENESS, 5
        .equ S_FACTORIAL, 6
        .equ S_DMA, 7
        .equ S_IRQ, 8
        .equ S_STORM, 9
        .equ S_TRAPPED, 10
        .equ S_DIRECT, 11
        .equ S_INTX, 12
        .equ S_MIGRATE, 13              # only across a migration (migrate_step)

        # edu's registers (QEMU docs/specs/edu.rst)
        .equ EDU_ID, 0x00
        .equ EDU_LIVENESS, 0x04
        .equ EDU_FACTORIAL, 0x08
        .equ EDU_STATUS, 0x20
        .equ EDU_IRQ_RAISE, 0x60
        .equ EDU_IRQ_ACK, 0x64
        .equ EDU_DMA_SRC, 0x80
        .equ EDU_DMA_DST, 0x88
        .equ EDU_DMA_COUNT, 0x90
        .equ EDU_DMA_CMD, 0x98
        .equ EDU_BUFFER, 0x40000

        .equ VECTOR, 0x41               # the device's interrupt vector
        .equ MIGRATE_VECTOR, 0x71       # the VMM's "a migration starts" (GuestDriver.MIGRATE_VECTOR)
        # the migration step: state left in edu, and 4 MiB kept written (above the samples)
        .equ MIG_LIVENESS, 0x13572468   # written to liveness: it must read inverted after the migration
        .equ MIG_FACTORIAL, 12          # 12! = 479001600 (the register is 32 bits)
        .equ MIG_FACTORIAL_OF, 479001600
        .equ MIG_SRC, 0x102000          # the pattern DMAed into edu's buffer before the migration,
        .equ MIG_DST, 0x103000          # and back into RAM after it
        .equ MIG_BUFFER, EDU_BUFFER + 0x400
        .equ MIG_SOAK, 0x400000         # the soak's area: MIG_PAGES pages, the first qword of each written
        .equ MIG_PAGES, 1024
        .equ INTX_VECTOR, 0x51          # INTx's vector, in the IOAPIC's redirection entry
        .equ INTX_ROUNDS, 10            # INTx interrupts raised, one at a time
        .equ IOAPIC, 0xfec00000         # IOREGSEL; IOWIN at +0x10
        .equ IOAPIC_PINS, 24

        .text
        .globl start
# The entries: the bootstrap processor (vCPU 0) starts at LOAD, every application processor at
# LOAD + 8, each on a stack of its own (the VMM sets them up as firmware would after INIT-SIPI).
start:
        jmp     bsp
        .org    8
ap_start:
        mov     r15, MAILBOX            # the handler counts through r15
1:      cmp     qword ptr [r15 + MB_IDT_READY], 0
        jne     2f
        pause                           # a few ms: the BSP builds the IDT first thing
        jmp     1b
2:      idt_load
        apic_on                         # its own local APIC on
        mov     eax, LAPIC + LAPIC_ID   # APIC ID, bits 31:24
        mov     eax, [rax]
        shr     eax, 24
        mov     qword ptr [r15 + MB_AP_READY + rax * 8], 1
3:      sti                             # take the interrupts aimed here, and wait for the next
        hlt
        jmp     3b

bsp:
        mov     r15, MAILBOX            # r15 = mailbox, for the whole program
        call    build_idt
        mov     edi, MIGRATE_VECTOR
        mov     eax, OFFSET mig_handler
        call    idt_set
        mov     qword ptr [r15 + MB_IDT_READY], 1
        mov     rax, [r15 + MB_WINDOW]  # no BAR placed yet: the hotplug service's windows start there
        mov     [r15 + MB_MEM_END], rax
        mov     rax, [r15 + MB_IO_WINDOW]
        mov     [r15 + MB_IO_END], rax
        apic_on

# ---- step 1: enumerate bus 0 and find the device ---------------------------------------------
        xor     r12d, r12d              # r12 = devfn being looked at
        xor     r13d, r13d              # r13 = functions present
        mov     r14, -1                 # r14 = the first edu-compatible function, or -1
find_loop:
        mov     edi, r12d
        xor     esi, esi
        call    cfg_read32
        cmp     eax, 0xffffffff
        je      find_next               # nobody there: a master abort reads all-ones
        inc     r13d
        cmp     eax, 0x11e81234
        jne     find_next
        test    r14, r14
        jns     find_next
        mov     r14, r12
find_next:
        inc     r12d
        cmp     r12d, 256
        jb      find_loop
        mov     r12, [r15 + MB_TARGET]  # the VMM names the device to drive, or 0xffff: the first edu
        cmp     r12, 0xffff
        jne     1f
        mov     r12, r14
        test    r12, r12
        js      find_failed
1:      mov     edi, r12d
        xor     esi, esi
        call    cfg_read32
        cmp     eax, 0xffffffff
        jne     found
find_failed:
        mov     edi, S_FIND
        mov     esi, FAIL
        mov     rdx, r12
        mov     ecx, 0xffffffff
        mov     r8, r13
        call    report
        jmp     done
found:
        mov     [r15 + MB_DEVFN], r12
        mov     [r15 + MB_IDS], rax
        xor     ecx, ecx
        cmp     eax, 0x11e81234
        sete    cl
        mov     [r15 + MB_IS_EDU], rcx
        mov     edi, S_FIND
        mov     esi, PASS
        mov     rdx, r12
        mov     ecx, eax
        mov     r8, r13
        call    report

# ---- step 2: size and place the BARs ------------------------------------------------------------
        mov     edi, r12d
        call    size_bars
        mov     rdi, [r15 + MB_WINDOW]
        mov     rsi, [r15 + MB_IO_WINDOW]
        call    place_bars
        mov     [r15 + MB_MEM_END], rax # where the hotplug service's windows begin
        mov     [r15 + MB_IO_END], rdx
        mov     edi, r12d
        call    write_bars
        mov     edi, S_BARS             # none at all is no failure: the VMM's report says so
        mov     esi, PASS
        mov     rdx, [r15 + MB_BARS_MEM]
        mov     rcx, [r15 + MB_BARS_IO]
        xor     r8d, r8d
        call    report
        mov     qword ptr [r15 + MB_HOT], 0
        call    drive
        call    start_save              # for a migration step: the hotplug service reuses these words
        mov     qword ptr [r15 + MB_MIG_HAVE], 1

done:
        mov     dx, PORT_DONE
        out     dx, al
        jmp     hotplug_service         # where the vCPU goes on when the VMM runs it again (-qmp)

# drive: steps 3 to 12 on function r12d (bus << 8 | devfn) whose BARs are placed (MB_BAR_*);
# clobbers every register but r15
drive:
        mov     rbp, [r15 + MB_BARS_MEM] # rbp = memory BARs placed
        mov     r11, [r15 + MB_BARS_IO] # r11 = I/O BARs placed

# ---- step 3: decode of the BARs placed (memory, I/O) and bus mastering --------------------------
        mov     r14d, 4                 # r14 = the command bits wanted: bus master,
        test    ebp, ebp
        jz      1f
        or      r14d, 2                 # memory decode for memory BARs,
1:      test    r11d, r11d
        jz      1f
        or      r14d, 1                 # I/O decode for I/O BARs
1:      mov     edi, r12d
        mov     esi, 4
        call    cfg_read16
        or      eax, r14d
        mov     r8d, eax
        mov     edi, r12d
        mov     esi, 4
        call    cfg_write16
        mov     edi, r12d
        mov     esi, 4
        call    cfg_read16
        mov     ebx, eax
        mov     dx, PORT_QUERY          # the VMM says which BAR addresses trap and which are mapped
        out     dx, al
        mov     edi, S_ENABLE
        mov     esi, PASS
        mov     eax, ebx
        and     eax, r14d
        cmp     eax, r14d
        je      1f
        mov     esi, FAIL
1:      mov     edx, ebx
        mov     rcx, [r15 + MB_TRAPPED]
        mov     r8, [r15 + MB_DIRECT]
        call    report

        mov     rbx, [r15 + MB_BAR_ADDR] # rbx = BAR0, where edu's registers are
        cmp     qword ptr [r15 + MB_IS_EDU], 0
        jne     step_id
        mov     r14d, S_ID              # not edu: its register steps are skipped
skip_loop:
        mov     edi, r14d
        mov     esi, SKIP
        mov     rdx, [r15 + MB_IDS]
        xor     ecx, ecx
        xor     r8d, r8d
        call    report
        inc     r14d
        cmp     r14d, S_STORM
        jbe     skip_loop
        jmp     step_trapped

# ---- step 4: identification ---------------------------------------------------------------------
step_id:
        mov     eax, [rbx + EDU_ID]
        mov     edi, S_ID
        mov     r9d, 0x010000ed
        call    check

# ---- step 5: liveness: the register reads back inverted -----------------------------------------
        mov     dword ptr [rbx + EDU_LIVENESS], 0x5a5aa5a5
        mov     eax, [rbx + EDU_LIVENESS]
        mov     edi, S_LIVENESS
        mov     r9d, 0xa5a55a5a
        call    check

# ---- step 6: factorial of 10, computed by the device ---------------------------------------------
        mov     dword ptr [rbx + EDU_FACTORIAL], 10
        call    deadline_set
1:      test    dword ptr [rbx + EDU_STATUS], 1
        jz      2f
        call    deadline_ahead
        jb      1b                      # the deadline is ahead: poll again
2:      mov     eax, [rbx + EDU_FACTORIAL]
        mov     edi, S_FACTORIAL
        mov     r9d, 3628800
        call    check

# ---- step 7: DMA RAM -> device -> RAM, then compare ----------------------------------------------
        mov     rdi, DMA_SRC
        xor     ecx, ecx
1:      lea     eax, [rcx + rcx * 2]    # byte i = (i * 7 + 3) & 0xff
        lea     eax, [rax + rcx * 4 + 3]
        mov     [rdi + rcx], al
        mov     byte ptr [rdi + rcx + DMA_DST - DMA_SRC], 0xee
        inc     ecx
        cmp     ecx, DMA_BYTES
        jb      1b
        mov     qword ptr [rbx + EDU_DMA_SRC], DMA_SRC
        mov     qword ptr [rbx + EDU_DMA_DST], EDU_BUFFER
        mov     qword ptr [rbx + EDU_DMA_COUNT], DMA_BYTES
        mov     qword ptr [rbx + EDU_DMA_CMD], 1
        call    wait_dma
        mov     qword ptr [rbx + EDU_DMA_SRC], EDU_BUFFER
        mov     qword ptr [rbx + EDU_DMA_DST], DMA_DST
        mov     qword ptr [rbx + EDU_DMA_COUNT], DMA_BYTES
        mov     qword ptr [rbx + EDU_DMA_CMD], 3
        call    wait_dma
        mov     rdi, DMA_SRC
        xor     ecx, ecx
1:      mov     al, [rdi + rcx]
        cmp     al, [rdi + rcx + DMA_DST - DMA_SRC]
        jne     2f
        inc     ecx
        cmp     ecx, DMA_BYTES
        jb      1b
        mov     esi, PASS
        jmp     3f
2:      mov     esi, FAIL
3:      mov     edi, S_DMA
        mov     edx, ecx                # bytes equal before the first difference
        mov     ecx, DMA_BYTES
        xor     r8d, r8d
        call    report

# ---- step 8: one interrupt, MSI-X if the device has it, else MSI --------------------------------
        call    irq_enable
        mov     r14d, r11d              # r14 = 1: MSI-X, 2: MSI
        test    r11d, r11d
        jnz     irq_go
        jmp     irq_none

# irq_enable: function r12d's vector VECTOR to APIC 0, MSI-X entry 0 if it has MSI-X, else MSI; r11 =
# 1 (MSI-X, r10 = the entry), 2 (MSI, r10 = the capability) or 0 (neither), for irq_aim; rbx = BAR0
# is kept, the rest but r12 and r15 clobbered
irq_enable:
        mov     edi, r12d
        mov     esi, 0x11
        call    find_cap
        test    eax, eax
        jz      irq_msi
        mov     r13d, eax               # r13 = MSI-X capability
        lea     esi, [r13d + 4]
        mov     edi, r12d
        call    cfg_read32              # table: BIR and offset
        mov     ecx, eax
        and     ecx, 7
        and     eax, 0xfffffff8
        mov     rdi, [r15 + MB_BAR_ADDR + rcx * 8]
        add     rdi, rax                # rdi = vector 0's entry
        mov     r10, rdi                # r10 = it, and r11 = 1 (MSI-X), for irq_aim
        mov     r11d, 1
        mov     dword ptr [rdi], LAPIC  # message address: APIC 0
        mov     dword ptr [rdi + 4], 0
        mov     dword ptr [rdi + 8], VECTOR
        mov     dword ptr [rdi + 12], 0 # unmasked
        lea     esi, [r13d + 2]
        mov     edi, r12d
        call    cfg_read16
        or      eax, 0x8000             # MSI-X enable
        mov     r8d, eax
        lea     esi, [r13d + 2]
        mov     edi, r12d
        call    cfg_write16
        ret
irq_msi:
        mov     edi, r12d
        mov     esi, 0x05
        call    find_cap
        test    eax, eax
        jnz     1f
        xor     r11d, r11d              # neither
        ret
1:
        mov     r13d, eax
        lea     esi, [r13d + 4]
        mov     edi, r12d
        mov     r8d, LAPIC
        call    cfg_write32
        lea     esi, [r13d + 2]
        mov     edi, r12d
        call    cfg_read16
        mov     r14d, eax               # flags: 64-bit decides where data is
        lea     esi, [r13d + 8]
        test    r14d, 0x80
        jz      1f
        mov     edi, r12d
        xor     r8d, r8d
        call    cfg_write32             # upper address
        lea     esi, [r13d + 12]
1:      mov     edi, r12d
        mov     r8d, VECTOR
        call    cfg_write16             # data
        mov     eax, r14d
        or      eax, 1                  # MSI enable
        mov     r8d, eax
        lea     esi, [r13d + 2]
        mov     edi, r12d
        call    cfg_write16
        mov     r10d, r13d              # r10 = the capability, and r11 = 2 (MSI), for irq_aim
        mov     r11d, 2
        ret
irq_go:                                 # one interrupt aimed at each vCPU in turn
        mov     qword ptr [r15 + MB_IRQ_COUNT], 0
        xor     ecx, ecx                # each vCPU's count from 0 (a hot-added device's run after
1:      mov     qword ptr [r15 + MB_IRQ_COUNT_CPU + rcx * 8], 0 # the start's), no interrupt of the
        mov     qword ptr [r15 + MB_IRQ_SNAP + rcx * 8], 0      # device being in flight now
        inc     ecx
        cmp     rcx, [r15 + MB_CPUS]
        jb      1b
        sti
        xor     r9d, r9d                # r9 = the APIC ID aimed at
1:      call    irq_aim
        mov     dword ptr [rbx + EDU_IRQ_RAISE], 1
        call    wait_irq
        mov     dword ptr [rbx + EDU_IRQ_ACK], 1
        inc     r9d
        cmp     r9, [r15 + MB_CPUS]
        jb      1b
        mov     edx, 1                  # each vCPU took its one, and only it
        mov     r8d, 1                  # (the storm counts from here)
        call    each_cpu_counted
        mov     rax, [r15 + MB_CPUS]
        cmp     [r15 + MB_IRQ_COUNT], rax
        je      1f
        mov     esi, FAIL
1:      mov     edi, S_IRQ
        mov     rdx, [r15 + MB_IRQ_COUNT]
        mov     ecx, r14d
        mov     r8d, VECTOR
        call    report
        jmp     step_storm
irq_none:
        xor     r11d, r11d              # nothing for irq_aim to aim
        mov     edi, S_IRQ
        mov     esi, FAIL
        xor     edx, edx
        xor     ecx, ecx
        xor     r8d, r8d
        call    report

# ---- step 9: an interrupt storm, one at a time, each timed from raise to handler ----------------
step_storm:                             # MB_IRQ_LOOPS aimed at each vCPU in turn
        xor     r9d, r9d                # r9 = the APIC ID aimed at
        mov     r13, [r15 + MB_IRQ_LOOPS]
        mov     rdi, SAMPLES_IRQ
        xor     r14d, r14d              # r14 = interrupts raised (all vCPUs)
5:      call    irq_aim
1:      cmp     r14, r13
        jae     6f
        mov     rbp, [r15 + MB_IRQ_COUNT]
        rdtsc
        shl     rdx, 32
        or      rax, rdx
        mov     rsi, rax                # rsi = TSC at the raise
        mov     dword ptr [rbx + EDU_IRQ_RAISE], 1
        inc     rbp
        call    deadline_set
3:      cmp     [r15 + MB_IRQ_COUNT], rbp
        je      4f
        call    deadline_ahead
        jb      3b                      # the deadline is ahead: poll again
        jmp     2f                      # lost: stop the storm, the counts will say so
4:      mov     rax, [r15 + MB_IRQ_TSC]
        sub     rax, rsi
        mov     [rdi + r14 * 8], rax
        mov     dword ptr [rbx + EDU_IRQ_ACK], 1
        inc     r14
        jmp     1b
6:      inc     r9d                     # the next vCPU's share
        add     r13, [r15 + MB_IRQ_LOOPS]
        cmp     r9, [r15 + MB_CPUS]
        jb      5b
2:      mov     r13, [r15 + MB_IRQ_LOOPS]
        imul    r13, [r15 + MB_CPUS]    # r13 = interrupts meant to be raised, also after a lost one
        mov     rdx, [r15 + MB_IRQ_LOOPS] # each vCPU counted MB_IRQ_LOOPS more, all raised were counted
        xor     r8d, r8d
        call    each_cpu_counted
        mov     rcx, [r15 + MB_IRQ_COUNT]
        sub     rcx, [r15 + MB_CPUS]    # less the ones of step 8
        cmp     rcx, r13
        je      1f
        mov     esi, FAIL
1:      mov     edi, S_STORM
        mov     rdx, r13                # raised
        mov     r8, r14                 # timed
        call    report

# ---- steps 10 and 11: timed loops of trapped and of directly mapped BAR reads -------------------
step_trapped:
        mov     rsi, [r15 + MB_TRAPPED]
        mov     rdi, SAMPLES_TRAPPED
        mov     r13d, S_TRAPPED
        cmp     qword ptr [r15 + MB_TRAPPED_IO], 0
        je      1f
        call    timed_port_loop
        jmp     2f
1:      call    timed_loop
2:
        mov     rsi, [r15 + MB_DIRECT]
        mov     rdi, SAMPLES_DIRECT
        mov     r13d, S_DIRECT
        call    timed_loop

        mov     edi, r12d
        call    intx_step
        ret

# ---- step 12: INTx through the IOAPIC, level-triggered, INTX_ROUNDS times ------------------------
# edi = devfn. The device's recipe: edu (BAR0 MMIO: raise 0x60, acknowledge 0x64, status 0x24), the
# GPIO card (BAR0 I/O: raise 0x0c, acknowledge and status 0x08), or a 16550-compatible UART (class
# 0x0700, programming interface 0-6, its registers bytes in I/O BAR0): IER 0 then THR-empty enabled
# raises (the 16550 signals THR-empty on enabling it while the holding register is empty, which it
# is with nothing sent), an IIR read that identifies THR-empty is the status and its acknowledgment
# at once, and IER 0 at the end. MSI-X and MSI go off (INTx is the
# device's interrupt while they are off); the IOAPIC entry of the pin the interrupt line register
# names gets INTX_VECTOR, level-triggered, active high, to APIC 0. Each interrupt is raised once and
# must be counted once by intx_handler, which acknowledges the device (its line drops) before the
# EOI; an EOI with the line still up would deliver it again. The handler also notes whether the vector
# is in service in the local APIC: where the platform ends a level-triggered interrupt at delivery
# (this project's machines' KVM, with the PVM back end), the line is resampled before the handler has
# acknowledged the device, VFIO re-arms it while still asserted, and one more interrupt follows that
# finds the device's status clear, as a real driver would see a spurious interrupt. Only there are
# such entries allowed; every raise must still be taken once with the status set.
intx_step:
        push    rbx
        push    r12
        push    r13
        push    r14
        mov     r12d, edi
        mov     esi, 0x3c
        call    cfg_read16              # al = interrupt line, ah = interrupt pin
        mov     r13d, eax               # r13 = line | pin << 8
        cmp     qword ptr [r15 + MB_HOT], 0
        jne     intx_behind_port        # no IOAPIC pin is routed to it (HostDriver.INTX_BEHIND_PORT)
        test    ah, ah
        jz      intx_no_pin
        mov     qword ptr [r15 + MB_INTX_UART], 0
        mov     rax, [r15 + MB_IDS]
        cmp     eax, 0x11e81234
        jne     1f
        mov     qword ptr [r15 + MB_INTX_RAISE], 0x60
        mov     qword ptr [r15 + MB_INTX_ACK], 0x64
        mov     qword ptr [r15 + MB_INTX_STATUS], 0x24
        jmp     2f
1:      cmp     eax, 0x10f01234
        jne     1f
        mov     qword ptr [r15 + MB_INTX_RAISE], 0x0c
        mov     qword ptr [r15 + MB_INTX_ACK], 0x08
        mov     qword ptr [r15 + MB_INTX_STATUS], 0x08
        jmp     2f
1:      mov     edi, r12d               # a serial controller whose interface is 8250-compatible
        mov     esi, 0x08               # (PCI code 07 00 00..06: 8250, 16450, 16550 ... 16950)
        call    cfg_read32
        shr     eax, 8
        cmp     eax, 0x070000
        jb      intx_no_recipe
        cmp     eax, 0x070006
        ja      intx_no_recipe
        mov     edi, r12d               # with its registers in I/O BAR0 (a memory-mapped UART's
        mov     esi, 0x10               # register stride is the vendor's choice)
        call    cfg_read32
        test    eax, 1
        jz      intx_no_recipe
        mov     qword ptr [r15 + MB_INTX_UART], 1
2:      movzx   eax, r13b
        cmp     eax, IOAPIC_PINS
        jae     intx_bad_line
        mov     edi, r12d               # MSI-X and MSI off
        call    msi_off
        mov     edi, r12d               # BAR0: memory or I/O
        mov     esi, 0x10
        call    cfg_read32
        xor     r14d, r14d              # r14 = command bits to set
        test    eax, 1
        jz      1f
        and     eax, 0xfffffffc
        mov     qword ptr [r15 + MB_INTX_IO], 1
        mov     r14d, 1                 # I/O decode
        jmp     2f
1:      and     eax, 0xfffffff0
        mov     qword ptr [r15 + MB_INTX_IO], 0
        mov     r14d, 2                 # memory decode
2:      mov     [r15 + MB_INTX_BASE], rax
        mov     edi, r12d               # command: the decode BAR0 needs on, INTx disable off
        mov     esi, 4
        call    cfg_read16
        or      eax, r14d
        and     eax, 0xfbff
        mov     r8d, eax
        mov     edi, r12d
        mov     esi, 4
        call    cfg_write16
        movzx   ecx, r13b               # the IOAPIC entry of the line: destination APIC 0,
        lea     ecx, [ecx * 2 + 0x11]
        mov     eax, IOAPIC
        mov     [rax], ecx
        mov     dword ptr [rax + 0x10], 0
        dec     ecx                     # vector INTX_VECTOR, fixed, level, active high, unmasked
        mov     [rax], ecx
        mov     dword ptr [rax + 0x10], 0x8000 + INTX_VECTOR
        mov     edi, INTX_VECTOR
        mov     eax, OFFSET intx_handler
        call    idt_set
        mov     qword ptr [r15 + MB_INTX_COUNT], 0
        mov     qword ptr [r15 + MB_INTX_SPURIOUS], 0
        mov     qword ptr [r15 + MB_INTX_EARLY], 0
        sti
        xor     ebx, ebx                # rbx = interrupts raised
intx_loop:
        cmp     ebx, INTX_ROUNDS
        jae     intx_settle
        inc     ebx
        cmp     qword ptr [r15 + MB_INTX_UART], 0
        jne     1f
        mov     rdx, [r15 + MB_INTX_BASE]
        add     rdx, [r15 + MB_INTX_RAISE]
        mov     eax, 1
        cmp     qword ptr [r15 + MB_INTX_IO], 0
        jne     4f
        mov     [rdx], eax
        jmp     2f
4:      out     dx, eax
        jmp     2f
1:      mov     rdx, [r15 + MB_INTX_BASE] # the UART: THR-empty's enable off, then on (its rising edge)
        add     rdx, UART_IER
        xor     eax, eax
        out     dx, al
        mov     al, UART_IER_THRI
        out     dx, al
2:      call    deadline_set
3:      cmp     [r15 + MB_INTX_COUNT], rbx
        jae     intx_loop
        call    deadline_ahead
        jb      3b                      # the deadline is ahead: poll again
intx_settle:                            # a while longer: an interrupt delivered twice would show now
        call    deadline_settle
1:      cmp     [r15 + MB_INTX_COUNT], rbx
        ja      2f
        call    deadline_ahead
        jb      1b                      # the deadline is ahead: poll again
2:      cmp     qword ptr [r15 + MB_INTX_UART], 0
        je      2f
        mov     rdx, [r15 + MB_INTX_BASE] # the UART's interrupts off, as a driver leaves it
        add     rdx, UART_IER
        xor     eax, eax
        out     dx, al
2:      mov     edi, S_INTX         # PASS: each raised interrupt taken once with the device's status set,
        mov     esi, PASS               # and no other, unless the platform ended them before the handler did
        cmp     ebx, INTX_ROUNDS
        jne     3f
        mov     rax, [r15 + MB_INTX_COUNT]
        sub     rax, [r15 + MB_INTX_SPURIOUS]
        cmp     rax, rbx
        jne     3f
        cmp     qword ptr [r15 + MB_INTX_SPURIOUS], 0
        je      4f
        cmp     qword ptr [r15 + MB_INTX_EARLY], 0
        jne     4f
3:      mov     esi, FAIL
4:      mov     rdx, [r15 + MB_INTX_COUNT]
        mov     ecx, r13d               # b = line | pin << 8 | I/O << 16 | raised << 24
        mov     rax, [r15 + MB_INTX_IO]
        shl     eax, 16
        or      ecx, eax
        mov     eax, ebx
        shl     eax, 24
        or      ecx, eax
        mov     r8, [r15 + MB_INTX_EARLY] # c = spurious | not in service << 32
        shl     r8, 32
        or      r8, [r15 + MB_INTX_SPURIOUS]
        call    report
        jmp     intx_out
intx_no_recipe:
        mov     edx, 1                  # a = why: 1 no recipe, 2 no pin, 3 a line no IOAPIC pin has,
                                        # 4 a device behind a root port; b = IDs
        mov     esi, SKIP
        jmp     1f
intx_no_pin:
        mov     edx, 2
        mov     esi, SKIP
        jmp     1f
intx_behind_port:
        mov     edx, 4
        mov     esi, SKIP
        jmp     1f
intx_bad_line:
        mov     edx, 3
        mov     esi, FAIL
1:      mov     edi, S_INTX
        mov     rcx, [r15 + MB_IDS]
        mov     r8, r13
        bts     r8, 63                  # c's top bit: the step did not run (a says why)
        call    report
intx_out:
        pop     r14
        pop     r13
        pop     r12
        pop     rbx
        ret

# the INTx handler: counts, checks that the device asserts its interrupt, acknowledges it at the
# device (the level drops), then ends it at the local APIC (which, level-triggered, ends it at the
# IOAPIC too)
intx_handler:
        push    rax
        push    rdx
        inc     qword ptr [r15 + MB_INTX_COUNT]
        mov     eax, LAPIC + 0x100 + (INTX_VECTOR >> 5) * 0x10
        test    dword ptr [rax], 1 << (INTX_VECTOR & 31)
        jnz     1f                      # in service until our EOI, as the SDM has it
        inc     qword ptr [r15 + MB_INTX_EARLY]
1:      cmp     qword ptr [r15 + MB_INTX_UART], 0
        jne     6f
        mov     rdx, [r15 + MB_INTX_BASE]
        add     rdx, [r15 + MB_INTX_STATUS]
        cmp     qword ptr [r15 + MB_INTX_IO], 0
        jne     1f
        mov     eax, [rdx]
        jmp     2f
1:      in      eax, dx
2:      test    eax, 1
        jnz     3f
        inc     qword ptr [r15 + MB_INTX_SPURIOUS]
3:      mov     rdx, [r15 + MB_INTX_BASE]
        add     rdx, [r15 + MB_INTX_ACK]
        mov     eax, 1
        cmp     qword ptr [r15 + MB_INTX_IO], 0
        jne     4f
        mov     [rdx], eax
        jmp     5f
4:      out     dx, eax
        jmp     5f
6:      mov     rdx, [r15 + MB_INTX_BASE] # the UART: this read is also the acknowledgment
        add     rdx, UART_IIR
        in      al, dx
        and     al, 0x0f
        cmp     al, UART_IIR_THRI
        je      5f
        inc     qword ptr [r15 + MB_INTX_SPURIOUS]
5:      apic_eoi
        pop     rdx
        pop     rax
        iretq

# msi_off: edi = function: its MSI-X and MSI enables off (before the INTx step, and at removal)
msi_off:
        push    rbx
        push    r12
        mov     r12d, edi
        mov     esi, 0x11
        mov     ebx, 0x7fff             # MSI-X enable off
        call    1f
        mov     edi, r12d
        mov     esi, 0x05
        mov     ebx, 0xfffe             # MSI enable off
        call    1f
        pop     r12
        pop     rbx
        ret
1:      call    find_cap                # edi = the function, esi = the capability, ebx = the mask
        test    eax, eax
        jz      2f
        lea     esi, [eax + 2]
        push    rsi
        mov     edi, r12d
        call    cfg_read16
        pop     rsi
        and     eax, ebx
        mov     r8d, eax
        mov     edi, r12d
        call    cfg_write16
2:      ret

# idt_set: edi = vector, eax = handler (below 4 GiB): a present 64-bit interrupt gate, selector 0x08
idt_set:
        shl     edi, 4
        add     edi, IDT
        idt_gate
        ret

# ---- BARs: sized first, placed after, so that a root port's windows can be opened over them -------

# size_bars: edi = function (bus << 8 | devfn): each BAR's size into MB_BAR_SIZE (0: none, or the
# upper half of a 64-bit one), MB_BAR_IO and MB_BAR_WIDE its kind, MB_BARS_MEM and MB_BARS_IO the counts
size_bars:
        push    rbx
        push    r12
        push    r13
        push    r14
        mov     r12d, edi
        xor     ecx, ecx
1:      mov     qword ptr [r15 + MB_BAR_SIZE + rcx * 8], 0
        mov     qword ptr [r15 + MB_BAR_ADDR + rcx * 8], 0
        inc     ecx
        cmp     ecx, 6
        jb      1b
        mov     qword ptr [r15 + MB_BAR_IO], 0
        mov     qword ptr [r15 + MB_BAR_WIDE], 0
        mov     qword ptr [r15 + MB_BARS_IO], 0
        xor     r13d, r13d              # r13 = memory BARs
        xor     r14d, r14d              # r14 = BAR index
size_loop:
        lea     esi, [r14d * 4 + 0x10]
        mov     edi, r12d
        mov     r8d, 0xffffffff
        call    cfg_write32
        lea     esi, [r14d * 4 + 0x10]
        mov     edi, r12d
        call    cfg_read32
        test    eax, eax
        jz      size_next               # not implemented
        test    eax, 1
        jnz     size_io
        mov     ebx, eax                # rbx = low dword of the size mask
        and     ebx, 0xfffffff0
        mov     ecx, eax
        and     ecx, 6
        cmp     ecx, 4
        jne     1f
        lea     esi, [r14d * 4 + 0x14]  # 64-bit: size the upper half too
        mov     edi, r12d
        mov     r8d, 0xffffffff
        call    cfg_write32
        lea     esi, [r14d * 4 + 0x14]
        mov     edi, r12d
        call    cfg_read32
        shl     rax, 32
        or      rbx, rax
        mov     eax, 1
        mov     ecx, r14d
        shl     eax, cl
        or      [r15 + MB_BAR_WIDE], rax
        neg     rbx                     # size = two's complement of the mask
        mov     [r15 + MB_BAR_SIZE + r14 * 8], rbx
        inc     r13d
        inc     r14d                    # the upper half is not a BAR of its own
        jmp     size_next
1:      mov     rax, 0xffffffff00000000
        or      rbx, rax
        neg     rbx
        mov     [r15 + MB_BAR_SIZE + r14 * 8], rbx
        inc     r13d
        jmp     size_next
size_io:                                # an I/O BAR: its size is the lowest writable address bit
        and     eax, 0xfffc             # (x86 ports are 16 bits; the upper half may read 0 or 1s)
        jz      size_next
        mov     ebx, eax
        neg     ebx
        and     ebx, eax
        mov     [r15 + MB_BAR_SIZE + r14 * 8], rbx
        mov     eax, 1
        mov     ecx, r14d
        shl     eax, cl
        or      [r15 + MB_BAR_IO], rax
        inc     qword ptr [r15 + MB_BARS_IO]
size_next:
        inc     r14d
        cmp     r14d, 6
        jb      size_loop
        mov     [r15 + MB_BARS_MEM], r13
        pop     r14
        pop     r13
        pop     r12
        pop     rbx
        ret

# place_bars: the sized BARs placed in index order, each aligned to its size, memory BARs from rdi
# and I/O BARs from rsi, into MB_BAR_ADDR; rax = one past the memory placed, rdx = one past the ports
place_bars:
        xor     ecx, ecx
1:      mov     r8, [r15 + MB_BAR_SIZE + rcx * 8]
        test    r8, r8
        jz      3f
        mov     r9, r8
        neg     r9                      # r9 = the alignment mask
        bt      qword ptr [r15 + MB_BAR_IO], rcx
        jc      2f
        lea     rax, [rdi + r8 - 1]
        and     rax, r9
        mov     [r15 + MB_BAR_ADDR + rcx * 8], rax
        lea     rdi, [rax + r8]
        jmp     3f
2:      lea     rax, [rsi + r8 - 1]
        and     rax, r9
        mov     [r15 + MB_BAR_ADDR + rcx * 8], rax
        lea     rsi, [rax + r8]
3:      inc     ecx
        cmp     ecx, 6
        jb      1b
        mov     rax, rdi
        mov     rdx, rsi
        ret

# write_bars: edi = function: each placed BAR's address (both halves of a 64-bit one)
write_bars:
        push    r12
        push    r14
        mov     r12d, edi
        xor     r14d, r14d
1:      cmp     qword ptr [r15 + MB_BAR_SIZE + r14 * 8], 0
        je      2f
        mov     r8, [r15 + MB_BAR_ADDR + r14 * 8]
        lea     esi, [r14d * 4 + 0x10]
        mov     edi, r12d
        call    cfg_write32
        bt      qword ptr [r15 + MB_BAR_WIDE], r14
        jnc     2f
        mov     r8, [r15 + MB_BAR_ADDR + r14 * 8]
        shr     r8, 32
        lea     esi, [r14d * 4 + 0x14]
        mov     edi, r12d
        call    cfg_write32
2:      inc     r14d
        cmp     r14d, 6
        jb      1b
        pop     r14
        pop     r12
        ret

# ---- the hotplug service -------------------------------------------------------------------------
# What firmware and an OS's native hotplug driver (Linux's pciehp) do for each hot-plug capable PCI
# Express root port on bus 0 (class 0x0604, a type 1 header, a PCI Express capability of type Root
# Port with Slot Implemented, Slot Capabilities' Hot-Plug Capable), the same as HostHotplug.java:
# bus numbers, windows closed, decode and bus mastering on (the port forwards its secondary side's
# requests upstream, and sends its own MSI, only as a bus master), its MSI to APIC 0 with HP_VECTOR,
# the slot's events enabled; then it waits for that interrupt with interrupts on (hlt).
# Presence detected: power on (Command Completed waited for), the data link active waited for,
# secondary:00.0 read, its BARs sized, the port's windows opened over a range above everything given
# out so far (or the port's own again when it holds them), the BARs placed, the steps run (drive).
# Attention button: the device quiesced, power indicator and power off in one Slot Control write,
# Command Completed waited for. Presence detect changed with the slot empty: the device is gone.
# Each wait is for the port's interrupt (its count in RAM, no exit) bounded by MB_WAIT_TSC; the
# slot's events are cleared (RW1C) at each look, so that the next one interrupts again (an MSI goes
# out when some enabled event's status becomes set while none was, PCIe 6.0 6.7.3.4).

        .equ HP_VECTOR, 0x61            # HostHotplug.VECTOR
        .equ MEMORY_TOP, 0xfec00000     # the 32-bit PCI hole ends at the IOAPIC
        .equ IO_TOP, 0x10000
        # PCI Express capability registers and bits (pci_regs.h's PCI_EXP_*)
        .equ EXP_FLAGS, 0x02
        .equ EXP_LNKCAP, 0x0c
        .equ EXP_LNKSTA, 0x12
        .equ EXP_SLTCAP, 0x14
        .equ EXP_SLTCTL, 0x18
        .equ EXP_SLTSTA, 0x1a
        .equ SLTCAP_ABP, 0x01
        .equ SLTCAP_PCP, 0x02
        .equ SLTCAP_PIP, 0x10
        .equ SLTCAP_HPC, 0x40
        .equ SLTCAP_NCCS, 0x40000
        .equ SLTCTL_ABPE, 0x0001
        .equ SLTCTL_PDCE, 0x0008
        .equ SLTCTL_CCIE, 0x0010
        .equ SLTCTL_HPIE, 0x0020
        .equ SLTCTL_PIC, 0x0300
        .equ SLTCTL_PWR_IND_ON, 0x0100
        .equ SLTCTL_PWR_IND_OFF, 0x0300
        .equ SLTCTL_PCC, 0x0400         # 1: power off
        .equ SLTCTL_DLLSCE, 0x1000
        .equ SLTSTA_ABP, 0x0001
        .equ SLTSTA_PDC, 0x0008
        .equ SLTSTA_CC, 0x0010
        .equ SLTSTA_PDS, 0x0040
        .equ SLTSTA_DLLSC, 0x0100
        .equ SLTSTA_EVENTS, SLTSTA_ABP | SLTSTA_PDC | SLTSTA_CC | SLTSTA_DLLSC
        .equ LNKSTA_DLLLA, 0x2000

hotplug_service:
        xor     r12d, r12d              # r12 = devfn looked at
        xor     r13d, r13d              # r13 = ports found
        lea     rbx, [r15 + MB_HP_PORTS] # rbx = the next port's entry
hp_find:
        mov     edi, r12d
        xor     esi, esi
        call    cfg_read32
        cmp     eax, 0xffffffff
        je      hp_find_next
        mov     edi, r12d
        mov     esi, 0x08
        call    cfg_read32
        shr     eax, 16
        cmp     eax, 0x0604             # a PCI-to-PCI bridge
        jne     hp_find_next
        mov     edi, r12d
        mov     esi, 0x0e
        call    cfg_read16
        and     eax, 0x7f
        cmp     eax, 1                  # with a type 1 header
        jne     hp_find_next
        mov     edi, r12d
        mov     esi, 0x10
        call    find_cap
        test    eax, eax
        jz      hp_find_next
        mov     r14d, eax               # r14 = its PCI Express capability
        lea     esi, [r14d + EXP_FLAGS]
        mov     edi, r12d
        call    cfg_read16
        mov     ecx, eax
        and     ecx, 0x01f0             # Slot Implemented, and the type: a Root Port (4)
        cmp     ecx, 0x0140
        jne     hp_find_next
        lea     esi, [r14d + EXP_SLTCAP]
        mov     edi, r12d
        call    cfg_read32
        test    eax, SLTCAP_HPC
        jz      hp_find_next
        mov     [rbx + HP_SLOTCAP], rax
        mov     [rbx + HP_DEVFN], r12
        mov     [rbx + HP_EXP], r14
        lea     eax, [r13d + 1]
        mov     [rbx + HP_SECONDARY], rax
        mov     qword ptr [rbx + HP_MEM_BASE], -1
        mov     qword ptr [rbx + HP_MEM_LIMIT], -1
        mov     qword ptr [rbx + HP_IO_BASE], -1
        mov     qword ptr [rbx + HP_IO_LIMIT], -1
        mov     qword ptr [rbx + HP_OCCUPIED], 0
        mov     qword ptr [rbx + HP_DEVICE], -1
        mov     qword ptr [rbx + HP_REMOVING], 0
        mov     qword ptr [rbx + HP_PENDING], 0
        lea     esi, [r14d + EXP_LNKCAP]
        mov     edi, r12d
        call    cfg_read32
        shr     eax, 20                 # DLL Link Active Reporting Capable
        and     eax, 1
        mov     [rbx + HP_LINK], rax
        add     rbx, HP_ENTRY
        inc     r13d
        cmp     r13d, HP_MAX_PORTS
        jae     1f
hp_find_next:
        inc     r12d
        cmp     r12d, 256
        jb      hp_find
1:      mov     [r15 + MB_HP_COUNT], r13
        test    r13d, r13d
        jnz     1f
idle:                                   # nothing to serve: halted with interrupts on, for the VMM's
        cli                             # migration request (its MSI ends the hlt)
        cmp     qword ptr [r15 + MB_MIG_REQ], 0
        jne     2f
        sti                             # sti's shadow: an interrupt now still ends the hlt
        hlt
        jmp     idle
2:      sti
        call    migrate_step
        jmp     idle
1:      mov     rax, [r15 + MB_MEM_END] # windows go above the start's BARs
        add     rax, 0xfffff
        and     rax, -0x100000
        mov     [r15 + MB_HP_NEXT_MEM], rax
        mov     rax, [r15 + MB_IO_END]
        add     rax, 0xfff
        and     rax, -0x1000
        mov     [r15 + MB_HP_NEXT_IO], rax
        mov     qword ptr [r15 + MB_HP_IRQS], 0
        mov     edi, HP_VECTOR
        mov     eax, OFFSET hp_handler
        call    idt_set
        sti                             # the commands' completions interrupt
        lea     rbx, [r15 + MB_HP_PORTS]
        xor     r13d, r13d
1:      call    hp_setup
        add     rbx, HP_ENTRY
        inc     r13d
        cmp     r13, [r15 + MB_HP_COUNT]
        jb      1b
        mov     al, HP_SERVING
        mov     dx, PORT_HOTPLUG
        out     dx, al

hp_loop:                                # each port's events; when none had any, hlt until the interrupt
        cmp     qword ptr [r15 + MB_MIG_REQ], 0
        je      1f
        call    migrate_step            # the VMM's migration request first
1:      mov     rax, [r15 + MB_HP_IRQS] # the interrupts before this look (the steps clobber registers:
        mov     [r15 + MB_HP_SEEN], rax # the loop's state is in the mailbox)
        mov     qword ptr [r15 + MB_HP_ANY], 0
        mov     qword ptr [r15 + MB_HP_PORT], 0
1:      mov     rax, [r15 + MB_HP_PORT]
        imul    rax, rax, HP_ENTRY
        lea     rbx, [r15 + MB_HP_PORTS + rax]
        call    hp_handle
        or      [r15 + MB_HP_ANY], rax
        inc     qword ptr [r15 + MB_HP_PORT]
        mov     rax, [r15 + MB_HP_PORT]
        cmp     rax, [r15 + MB_HP_COUNT]
        jb      1b
        cmp     qword ptr [r15 + MB_HP_ANY], 0
        jne     hp_loop
        cli
        cmp     qword ptr [r15 + MB_MIG_REQ], 0
        jne     2f                      # a migration request came meanwhile
        mov     rax, [r15 + MB_HP_IRQS]
        cmp     rax, [r15 + MB_HP_SEEN]
        jne     2f                      # one came while the ports were looked at
        sti                             # sti's shadow: an interrupt now still ends the hlt
        hlt
2:      sti
        jmp     hp_loop

# hp_handler: the ports' interrupt: counted, ended
hp_handler:
        push    rax
        lock inc qword ptr [r15 + MB_HP_IRQS]
        apic_eoi
        pop     rax
        iretq

# hp_setup: rbx = the port's entry: bus numbers, windows closed, decode and bus mastering, its MSI,
# the slot's stale events cleared and its event interrupts enabled; a slot already occupied is
# handled as a presence detected
hp_setup:
        mov     edi, [rbx + HP_DEVFN]
        mov     esi, 0x18               # primary 0, secondary and subordinate its own
        call    cfg_read32
        and     eax, 0xff000000
        mov     ecx, [rbx + HP_SECONDARY]
        shl     ecx, 8
        or      eax, ecx
        shl     ecx, 8
        or      eax, ecx
        mov     r8d, eax
        mov     edi, [rbx + HP_DEVFN]
        mov     esi, 0x18
        call    cfg_write32
        mov     edi, [rbx + HP_DEVFN]
        call    hp_close_windows
        mov     edi, [rbx + HP_DEVFN]
        mov     esi, 4
        call    cfg_read16
        or      eax, 7                  # I/O and memory decode, bus master
        mov     r8d, eax
        mov     edi, [rbx + HP_DEVFN]
        mov     esi, 4
        call    cfg_write16
        mov     edi, [rbx + HP_DEVFN]
        mov     esi, 0x05
        call    find_cap
        test    eax, eax
        jz      2f
        push    r12
        push    r13
        mov     r12d, eax               # r12 = the MSI capability
        lea     esi, [r12d + 4]
        mov     edi, [rbx + HP_DEVFN]
        mov     r8d, LAPIC              # APIC 0
        call    cfg_write32
        lea     esi, [r12d + 2]
        mov     edi, [rbx + HP_DEVFN]
        call    cfg_read16
        mov     r13d, eax               # r13 = its flags
        lea     esi, [r12d + 8]
        test    r13d, 0x80
        jz      1f
        mov     edi, [rbx + HP_DEVFN]
        xor     r8d, r8d
        call    cfg_write32             # upper address
        lea     esi, [r12d + 12]
1:      mov     edi, [rbx + HP_DEVFN]
        mov     r8d, HP_VECTOR
        call    cfg_write16             # data
        mov     eax, r13d
        and     eax, 0xff8f             # one message
        or      eax, 1                  # MSI enable
        mov     r8d, eax
        lea     esi, [r12d + 2]
        mov     edi, [rbx + HP_DEVFN]
        call    cfg_write16
        pop     r13
        pop     r12
2:      mov     esi, [rbx + HP_EXP]
        add     esi, EXP_SLTSTA
        mov     edi, [rbx + HP_DEVFN]
        mov     r8d, SLTSTA_EVENTS
        call    cfg_write16
        call    hp_slot_control
        or      eax, SLTCTL_PDCE | SLTCTL_HPIE
        mov     rcx, [rbx + HP_SLOTCAP]
        test    ecx, SLTCAP_ABP
        jz      1f
        or      eax, SLTCTL_ABPE
1:      test    ecx, SLTCAP_NCCS
        jnz     1f
        or      eax, SLTCTL_CCIE
1:      cmp     qword ptr [rbx + HP_LINK], 0
        je      1f
        or      eax, SLTCTL_DLLSCE
1:      mov     r8d, eax
        call    hp_command
        call    hp_slot_status
        test    eax, SLTSTA_PDS
        jz      1f
        or      qword ptr [rbx + HP_PENDING], SLTSTA_PDC
1:      ret

# hp_close_windows: edi = the port: memory, prefetchable and I/O windows closed (base above limit)
hp_close_windows:
        push    r12
        mov     r12d, edi
        mov     esi, 0x20
        mov     r8d, 0x0000fff0         # memory base 0xfff0, limit 0
        call    cfg_write32
        mov     edi, r12d
        mov     esi, 0x24
        mov     r8d, 0x0000fff0         # prefetchable base 0xfff0, limit 0
        call    cfg_write32
        mov     edi, r12d
        mov     esi, 0x28
        xor     r8d, r8d
        call    cfg_write32
        mov     edi, r12d
        mov     esi, 0x2c
        xor     r8d, r8d
        call    cfg_write32
        mov     edi, r12d
        mov     esi, 0x1c
        mov     r8d, 0x00f0             # I/O base 0xf0, limit 0
        call    cfg_write16
        mov     edi, r12d
        mov     esi, 0x30
        xor     r8d, r8d
        call    cfg_write32
        pop     r12
        ret

# hp_slot_control: rbx = the port -> eax = Slot Control
hp_slot_control:
        mov     esi, [rbx + HP_EXP]
        add     esi, EXP_SLTCTL
        mov     edi, [rbx + HP_DEVFN]
        jmp     cfg_read16

# hp_slot_status: rbx = the port -> eax = Slot Status, its events cleared (RW1C) as they are read
hp_slot_status:
        mov     esi, [rbx + HP_EXP]
        add     esi, EXP_SLTSTA
        mov     edi, [rbx + HP_DEVFN]
        call    cfg_read16
        test    eax, SLTSTA_EVENTS
        jz      1f
        push    rax
        mov     r8d, eax
        and     r8d, SLTSTA_EVENTS
        mov     esi, [rbx + HP_EXP]
        add     esi, EXP_SLTSTA
        mov     edi, [rbx + HP_DEVFN]
        call    cfg_write16
        pop     rax
1:      ret

# hp_command: rbx = the port, r8d = Slot Control to write; unless the slot has no command completed
# support, waits for Command Completed -> eax = 1 if it completed in time
hp_command:
        mov     esi, [rbx + HP_EXP]
        add     esi, EXP_SLTCTL
        mov     edi, [rbx + HP_DEVFN]
        call    cfg_write16
        mov     eax, 1
        test    qword ptr [rbx + HP_SLOTCAP], SLTCAP_NCCS
        jz      1f
        ret                             # no command completed support: nothing to wait for
1:      xor     ecx, ecx                # rcx = 0: Command Completed is what is waited for
        jmp     hp_await

# hp_await_link: rbx = the port: waits for the data link layer active (Link Status) -> eax = 1 if it is
hp_await_link:
        mov     ecx, 1
        # fall through

# hp_await: rbx = the port, rcx = 0 for Command Completed, 1 for the link: until it holds, waiting
# for the port's interrupt between looks, bounded by MB_WAIT_TSC; events seen meanwhile go to
# HP_PENDING -> eax = 1 if it held in time
hp_await:
        push    r12
        push    r13
        mov     r12, rcx
        call    deadline_set
1:      mov     r13, [r15 + MB_HP_IRQS] # r13 = the interrupts before this look
        call    hp_slot_status
        mov     ecx, eax
        and     ecx, SLTSTA_EVENTS & ~SLTSTA_CC
        or      [rbx + HP_PENDING], rcx
        test    r12d, 1
        jnz     3f
        test    eax, SLTSTA_CC
        jnz     5f
        jmp     4f
3:      mov     esi, [rbx + HP_EXP]
        add     esi, EXP_LNKSTA
        mov     edi, [rbx + HP_DEVFN]
        call    cfg_read16
        test    eax, LNKSTA_DLLLA
        jnz     5f
4:      cmp     [r15 + MB_HP_IRQS], r13 # the port's interrupt, or the deadline
        jne     1b
        call    deadline_ahead
        jb      4b                      # the deadline is ahead: look again
        bts     r12, 8                  # past it: one last look (an interrupt lost would not hide it)
        jnc     1b
        xor     eax, eax
        jmp     6f
5:      mov     eax, 1
6:      pop     r13
        pop     r12
        ret

# hp_handle: rbx = the port: its events since the last look -> eax = 1 if there were any
hp_handle:
        call    hp_slot_status
        and     eax, SLTSTA_EVENTS
        or      rax, [rbx + HP_PENDING]
        mov     qword ptr [rbx + HP_PENDING], 0
        mov     [rbx + HP_EVENTS], rax
        test    eax, eax
        jnz     1f
        ret
1:      test    eax, SLTSTA_ABP
        jz      2f
        cmp     qword ptr [rbx + HP_DEVICE], 0
        jl      2f
        cmp     qword ptr [rbx + HP_REMOVING], 0
        jne     2f
        call    hp_remove
2:      test    qword ptr [rbx + HP_EVENTS], SLTSTA_PDC | SLTSTA_DLLSC
        jz      9f
        call    hp_slot_status
        and     qword ptr [rbx + HP_PENDING], ~(SLTSTA_PDC | SLTSTA_DLLSC) # read just now
        test    eax, SLTSTA_PDS
        jz      3f
        cmp     qword ptr [rbx + HP_OCCUPIED], 0
        jne     9f
        call    hp_add
        jmp     9f
3:      cmp     qword ptr [rbx + HP_OCCUPIED], 0
        je      9f
        cmp     qword ptr [rbx + HP_DEVICE], 0
        jl      4f
        mov     rax, [rbx + HP_DEVICE]
        mov     [r15 + MB_HP_BDF], rax
        mov     al, HP_EMPTY
        mov     dx, PORT_HOTPLUG
        out     dx, al
4:      mov     qword ptr [rbx + HP_OCCUPIED], 0
        mov     qword ptr [rbx + HP_DEVICE], -1
        mov     qword ptr [rbx + HP_REMOVING], 0
9:      mov     eax, 1
        ret

# hp_add: rbx = the port, presence detected: power, link, the function, its windows and BARs, the steps
hp_add:
        mov     qword ptr [rbx + HP_OCCUPIED], 1
        mov     qword ptr [r15 + MB_HP_HOW], 0
        mov     rcx, [rbx + HP_SLOTCAP]
        test    ecx, SLTCAP_PCP | SLTCAP_PIP
        jz      2f
        call    hp_slot_control
        and     eax, ~(SLTCTL_PCC | SLTCTL_PIC) # power on (PCC 0)
        mov     rcx, [rbx + HP_SLOTCAP]
        test    ecx, SLTCAP_PIP
        jz      1f
        or      eax, SLTCTL_PWR_IND_ON
1:      mov     r8d, eax
        call    hp_command
        test    eax, eax
        mov     edx, 1
        jz      hp_not_up
        mov     eax, 1                  # powered on (command completed)
        test    qword ptr [rbx + HP_SLOTCAP], SLTCAP_PCP
        jnz     1f
        mov     eax, 4                  # the power indicator only
1:      or      [r15 + MB_HP_HOW], rax
2:      cmp     qword ptr [rbx + HP_LINK], 0
        je      3f
        call    hp_await_link
        test    eax, eax
        mov     edx, 2
        jz      hp_not_up
        or      qword ptr [r15 + MB_HP_HOW], 2
3:      mov     r12, [rbx + HP_SECONDARY]
        shl     r12d, 8                 # r12 = secondary:00.0
        mov     [r15 + MB_HP_BDF], r12
        mov     edi, r12d
        xor     esi, esi
        call    cfg_read32
        cmp     eax, 0xffffffff
        mov     edx, 3
        je      hp_not_up
        mov     [r15 + MB_HP_IDS], rax
        mov     [r15 + MB_IDS], rax
        mov     [r15 + MB_DEVFN], r12
        xor     ecx, ecx
        cmp     eax, 0x11e81234
        sete    cl
        mov     [r15 + MB_IS_EDU], rcx
        mov     [rbx + HP_DEVICE], r12
        mov     edi, r12d
        call    size_bars
        call    hp_allocate
        mov     [r15 + MB_HP_FITS], rax
        test    eax, eax
        jz      1f
        mov     edi, r12d
        call    write_bars
        call    hp_open_windows
1:      push    rbx                     # drive clobbers every register but r15
        mov     al, HP_BEGIN
        mov     dx, PORT_HOTPLUG
        out     dx, al
        mov     edi, S_FIND
        mov     esi, PASS
        mov     rdx, r12
        mov     rcx, [r15 + MB_HP_IDS]
        xor     r8d, r8d
        call    report
        mov     edi, S_BARS
        mov     esi, PASS
        cmp     qword ptr [r15 + MB_HP_FITS], 0
        jne     1f
        mov     esi, FAIL
1:      mov     rdx, [r15 + MB_BARS_MEM]
        mov     rcx, [r15 + MB_BARS_IO]
        xor     r8d, r8d
        call    report
        cmp     qword ptr [r15 + MB_HP_FITS], 0
        je      1f
        mov     qword ptr [r15 + MB_HOT], 1
        call    drive
        mov     qword ptr [r15 + MB_HOT], 0
1:      pop     rbx
        mov     al, HP_END
        mov     dx, PORT_HOTPLUG
        out     dx, al
        ret
hp_not_up:                              # edx = why
        mov     [r15 + MB_HP_WHY], rdx
        mov     rax, [rbx + HP_SECONDARY]
        shl     eax, 8
        mov     [r15 + MB_HP_BDF], rax
        mov     al, HP_NOT_UP
        mov     dx, PORT_HOTPLUG
        out     dx, al
        ret

# hp_allocate: rbx = the port, its function's BARs sized: placed in the port's windows if they hold
# them (a device plugged again), else in new ones above all given out so far -> eax = 1, or 0 when
# the host bridge's windows have no room left
hp_allocate:
        mov     rdi, [rbx + HP_MEM_BASE]
        cmp     rdi, -1
        je      1f
        mov     rsi, [rbx + HP_IO_BASE]
        call    place_bars
        mov     rcx, [rbx + HP_MEM_LIMIT]
        inc     rcx
        cmp     rax, rcx
        ja      1f
        mov     rcx, [rbx + HP_IO_LIMIT]
        inc     rcx
        cmp     rdx, rcx
        ja      1f
        mov     eax, 1
        ret
1:      mov     rdi, [r15 + MB_HP_NEXT_MEM]
        mov     rsi, [r15 + MB_HP_NEXT_IO]
        call    place_bars
        add     rax, 0xfffff            # the windows' granules: 1 MiB and 4 KiB
        and     rax, -0x100000
        add     rdx, 0xfff
        and     rdx, -0x1000
        mov     rcx, MEMORY_TOP
        cmp     rax, rcx
        ja      2f
        cmp     rdx, IO_TOP
        ja      2f
        mov     rcx, [r15 + MB_HP_NEXT_MEM]
        mov     [rbx + HP_MEM_BASE], rcx
        lea     rcx, [rax - 1]
        mov     [rbx + HP_MEM_LIMIT], rcx
        mov     rcx, [r15 + MB_HP_NEXT_IO]
        mov     [rbx + HP_IO_BASE], rcx
        lea     rcx, [rdx - 1]
        mov     [rbx + HP_IO_LIMIT], rcx
        mov     [r15 + MB_HP_NEXT_MEM], rax
        mov     [r15 + MB_HP_NEXT_IO], rdx
        mov     eax, 1
        ret
2:      xor     eax, eax
        ret

# hp_open_windows: rbx = the port: its memory and I/O windows over what hp_allocate gave it
hp_open_windows:
        mov     rax, [rbx + HP_MEM_BASE]
        mov     rcx, [rbx + HP_MEM_LIMIT]
        mov     r8d, 0x0000fff0         # closed
        cmp     rcx, rax
        jbe     1f
        shr     eax, 16                 # base and limit: address bits 31:20 in bits 15:4
        and     eax, 0xfff0
        shr     ecx, 16
        and     ecx, 0xfff0
        shl     ecx, 16
        or      eax, ecx
        mov     r8d, eax
1:      mov     edi, [rbx + HP_DEVFN]
        mov     esi, 0x20
        call    cfg_write32
        mov     rax, [rbx + HP_IO_BASE]
        mov     rcx, [rbx + HP_IO_LIMIT]
        mov     r8d, 0x00f0             # closed
        cmp     rcx, rax
        jbe     1f
        shr     eax, 8                  # base and limit: address bits 15:12 in bits 7:4
        and     eax, 0xf0
        and     ecx, 0xf000
        or      eax, ecx                # the limit's bits 15:12 land in bits 15:12 (its byte's 7:4)
        mov     r8d, eax
1:      mov     edi, [rbx + HP_DEVFN]
        mov     esi, 0x1c
        call    cfg_write16
        ret

# hp_remove: rbx = the port, the attention button pressed: the device stops (bus mastering, decode,
# MSI and MSI-X off), then one Slot Control write turns the power indicator and the slot off, as
# pciehp's pciehp_power_off_slot does, and Command Completed is waited for
hp_remove:
        push    r12
        mov     r12, [rbx + HP_DEVICE]
        mov     [r15 + MB_HP_BDF], r12
        mov     edi, r12d
        mov     esi, 4
        call    cfg_read16
        and     eax, ~7
        mov     r8d, eax
        mov     edi, r12d
        mov     esi, 4
        call    cfg_write16
        mov     edi, r12d
        call    msi_off
        call    hp_slot_control
        and     eax, ~SLTCTL_PIC
        or      eax, SLTCTL_PWR_IND_OFF
        test    qword ptr [rbx + HP_SLOTCAP], SLTCAP_PCP
        jz      1f
        or      eax, SLTCTL_PCC         # power off
1:      mov     r8d, eax
        call    hp_command
        mov     [r15 + MB_HP_DONE], rax
        mov     qword ptr [rbx + HP_REMOVING], 1
        mov     al, HP_REMOVED
        mov     dx, PORT_HOTPLUG
        out     dx, al
        pop     r12
        ret

# ---- the migration step (S_MIGRATE) ---------------------------------------------------------------
# Asked by the source's VMM as a migration starts (MB_MIG_REQ, then its MSI on MIGRATE_VECTOR, which
# ends the service loop's hlt). The driver (a) leaves state in edu: liveness MIG_LIVENESS, factorial
# of MIG_FACTORIAL, a pattern DMAed from RAM into edu's buffer, and its interrupt on (MSI-X entry 0,
# else MSI, to APIC 0, as step 8); then (b) keeps writing RAM while the machine migrates: iteration k
# writes k + 1 into the first qword of page k mod MIG_PAGES of MIG_SOAK and k into MB_MIG_ITER, then
# reads PORT_MIGRATED, until it reads 1 (the destination's VMM, once it runs the loaded machine).
# There it checks: (1) RAM: the last min(k, MIG_PAGES - 1) + 1 iterations' pages hold what each
# wrote; (2) edu: liveness reads inverted, factorial 12!, its buffer DMAed into fresh RAM equals the
# pattern; (3) an interrupt raised still arrives. The record: a = the last k, b = the check that
# failed (0 none, 1 RAM, 2 liveness, 3 factorial, 4 DMA, 5 interrupt) | the interrupt's kind << 8 |
# no device checks (not edu, or no device) << 16, c = the failure's detail (the page, the value read,
# the first differing byte). Then steps 3 to 12 again on the start's device, and PORT_DONE.
# Clobbers every register but r15.
migrate_step:
        mov     qword ptr [r15 + MB_MIG_REQ], 0
        xor     r12d, r12d
        cmp     qword ptr [r15 + MB_MIG_HAVE], 0
        je      1f
        call    start_restore
        mov     r12, [r15 + MB_DEVFN]   # r12 = the start's device
        mov     qword ptr [r15 + MB_HOT], 0
        cmp     qword ptr [r15 + MB_IS_EDU], 0
        jne     2f
1:      mov     qword ptr [r15 + MB_MIG_KIND], 0x100 # no device checks (bit 8 here, 16 in the record)
        jmp     mig_soak_start
2:      mov     rbx, [r15 + MB_BAR_ADDR] # rbx = BAR0
        mov     dword ptr [rbx + EDU_LIVENESS], MIG_LIVENESS
        mov     dword ptr [rbx + EDU_FACTORIAL], MIG_FACTORIAL
        call    deadline_set
1:      test    dword ptr [rbx + EDU_STATUS], 1
        jz      1f
        call    deadline_ahead
        jb      1b                      # the deadline is ahead: poll again
1:      call    mig_pattern             # rdi = MIG_SRC, the pattern
        mov     qword ptr [rbx + EDU_DMA_SRC], MIG_SRC
        mov     qword ptr [rbx + EDU_DMA_DST], MIG_BUFFER
        mov     qword ptr [rbx + EDU_DMA_COUNT], DMA_BYTES
        mov     qword ptr [rbx + EDU_DMA_CMD], 1
        call    wait_dma
        call    irq_enable              # the device's interrupt, as step 8 sets it up, left on
        mov     [r15 + MB_MIG_KIND], r11
mig_soak_start:
        xor     r13d, r13d              # r13 = k
mig_soak:
        mov     eax, r13d
        and     eax, MIG_PAGES - 1
        shl     eax, 12
        lea     rcx, [r13 + 1]
        mov     [rax + MIG_SOAK], rcx
        mov     [r15 + MB_MIG_ITER], r13
        mov     dx, PORT_MIGRATED
        in      al, dx
        cmp     al, 1
        je      mig_check
        inc     r13
        jmp     mig_soak

mig_check:                              # on the destination
        mov     r13, [r15 + MB_MIG_ITER] # r13 = the last k
        xor     r14d, r14d              # r14 = the check that failed
        xor     ebp, ebp                # rbp = its detail
        mov     rcx, r13                # (1) RAM: i = 0 .. min(k, MIG_PAGES - 1)
        cmp     rcx, MIG_PAGES - 1
        jbe     1f
        mov     ecx, MIG_PAGES - 1
1:      xor     esi, esi                # rsi = i
2:      mov     rax, r13
        sub     rax, rsi                # k - i
        mov     edx, eax
        and     edx, MIG_PAGES - 1
        shl     edx, 12
        lea     rdi, [rax + 1]
        cmp     [rdx + MIG_SOAK], rdi
        jne     3f
        inc     rsi
        cmp     rsi, rcx
        jbe     2b
        jmp     4f
3:      mov     r14d, 1
        shr     edx, 12
        mov     ebp, edx                # the page
        jmp     mig_report
4:      test    qword ptr [r15 + MB_MIG_KIND], 0x100
        jnz     mig_report              # no device to check
        mov     rbx, [r15 + MB_BAR_ADDR] # (2) edu as left
        mov     eax, [rbx + EDU_LIVENESS]
        cmp     eax, ~MIG_LIVENESS & 0xffffffff
        je      1f
        mov     r14d, 2
        mov     ebp, eax
        jmp     mig_report
1:      mov     eax, [rbx + EDU_FACTORIAL]
        cmp     eax, MIG_FACTORIAL_OF
        je      1f
        mov     r14d, 3
        mov     ebp, eax
        jmp     mig_report
1:      mov     rdi, MIG_DST
        xor     ecx, ecx
1:      mov     byte ptr [rdi + rcx], 0xee
        inc     ecx
        cmp     ecx, DMA_BYTES
        jb      1b
        mov     qword ptr [rbx + EDU_DMA_SRC], MIG_BUFFER
        mov     qword ptr [rbx + EDU_DMA_DST], MIG_DST
        mov     qword ptr [rbx + EDU_DMA_COUNT], DMA_BYTES
        mov     qword ptr [rbx + EDU_DMA_CMD], 3
        call    wait_dma
        call    mig_pattern             # again at MIG_SRC (RAM checked as migrated by (1) only)
        xor     ecx, ecx
1:      mov     al, [rdi + rcx]
        cmp     al, [rdi + rcx + MIG_DST - MIG_SRC]
        jne     2f
        inc     ecx
        cmp     ecx, DMA_BYTES
        jb      1b
        jmp     3f
2:      mov     r14d, 4
        mov     ebp, ecx                # the first byte that differs
        jmp     mig_report
3:      cmp     qword ptr [r15 + MB_MIG_KIND], 0 # (3) an interrupt, on the route left before
        je      4f
        mov     r9, [r15 + MB_IRQ_COUNT]
        mov     dword ptr [rbx + EDU_IRQ_RAISE], 1
        call    wait_irq
        mov     dword ptr [rbx + EDU_IRQ_ACK], 1
        cmp     [r15 + MB_IRQ_COUNT], r9
        ja      mig_report
4:      mov     r14d, 5
mig_report:
        mov     edi, S_MIGRATE
        mov     esi, PASS
        test    r14d, r14d
        jz      1f
        mov     esi, FAIL
1:      mov     rdx, r13                # a = the last k
        mov     rcx, [r15 + MB_MIG_KIND]
        shl     rcx, 8
        or      rcx, r14                # b = the check | kind << 8 | no device checks << 16
        mov     r8, rbp                 # c = the detail
        call    report
        cmp     qword ptr [r15 + MB_MIG_HAVE], 0
        je      1f
        mov     r12, [r15 + MB_DEVFN]
        call    drive                   # steps 3 to 12 again, on the destination
1:      mov     dx, PORT_DONE
        out     dx, al
        ret

# mig_pattern: the migration step's DMA pattern at MIG_SRC, byte i = (i * 13 + 0x5b) & 0xff; rdi = MIG_SRC
mig_pattern:
        mov     rdi, MIG_SRC
        xor     ecx, ecx
1:      imul    eax, ecx, 13
        add     eax, 0x5b
        mov     [rdi + rcx], al
        inc     ecx
        cmp     ecx, DMA_BYTES
        jb      1b
        ret

# mig_handler: the VMM's migration request: counted, ended (the loop looks at MB_MIG_REQ)
mig_handler:
        push    rax
        lock inc qword ptr [r15 + MB_MIG_IRQS]
        apic_eoi
        pop     rax
        iretq

# start_save, start_restore: the start's device (its function, IDs, BARs) to MB_MIG_START and back
start_save:
        mov     esi, MB_DEVFN
        mov     edi, MB_MIG_START
        mov     ecx, (MB_RECORDS - MB_DEVFN) / 8
        call    mb_copy
        mov     esi, MB_BAR_WIDE
        mov     edi, MB_MIG_START + MB_RECORDS - MB_DEVFN
        mov     ecx, 3
        jmp     mb_copy
start_restore:
        mov     esi, MB_MIG_START
        mov     edi, MB_DEVFN
        mov     ecx, (MB_RECORDS - MB_DEVFN) / 8
        call    mb_copy
        mov     esi, MB_MIG_START + MB_RECORDS - MB_DEVFN
        mov     edi, MB_BAR_WIDE
        mov     ecx, 3
        # fall through

# mb_copy: ecx qwords from mailbox offset rsi to mailbox offset rdi
mb_copy:
1:      mov     rax, [r15 + rsi]
        mov     [r15 + rdi], rax
        add     rsi, 8
        add     rdi, 8
        dec     ecx
        jnz     1b
        ret

# ---- helpers ------------------------------------------------------------------------------------

# timed_loop: rsi = address (0: skip), rdi = samples, r13d = step; MB_LOOPS reads, each timed
timed_loop:
        test    rsi, rsi
        jnz     1f
        mov     edi, r13d
        mov     esi, SKIP
        xor     edx, edx
        xor     ecx, ecx
        xor     r8d, r8d
        jmp     report
1:      mov     r9, [r15 + MB_LOOPS]
        xor     r10d, r10d
        mov     r11, rdx
2:      cmp     r10, r9
        jae     3f
        rdtsc
        shl     rdx, 32
        or      rax, rdx
        mov     r11, rax
        mov     ecx, [rsi]              # the access
        rdtsc
        shl     rdx, 32
        or      rax, rdx
        sub     rax, r11
        mov     [rdi + r10 * 8], rax
        inc     r10
        jmp     2b
3:      mov     edx, ecx                # the last value read
        mov     rcx, rsi
        mov     edi, r13d
        mov     r8, r9
        mov     esi, PASS
        jmp     report

# timed_port_loop: rsi = port, rdi = samples, r13d = step; MB_LOOPS 32-bit ins, each timed
timed_port_loop:
        mov     r9, [r15 + MB_LOOPS]
        xor     r10d, r10d
2:      cmp     r10, r9
        jae     3f
        rdtsc
        shl     rdx, 32
        or      rax, rdx
        mov     r11, rax
        mov     edx, esi
        in      eax, dx                 # the access
        mov     ecx, eax
        rdtsc
        shl     rdx, 32
        or      rax, rdx
        sub     rax, r11
        mov     [rdi + r10 * 8], rax
        inc     r10
        jmp     2b
3:      mov     edx, ecx                # the last value read
        mov     rcx, rsi
        mov     edi, r13d
        mov     r8, r9
        mov     esi, PASS
        jmp     report

# deadline_set: MB_DEADLINE = now + MB_WAIT_TSC. The bound on every poll is time, not a count of
# iterations: how fast a polling loop spins differs by orders of magnitude between KVM back ends (an
# emulated guest kernel here, QEMU's emulation of SVM in the nested VM), and the device's latency with
# them. Preserves every register.
deadline_set:
        push    rax
        mov     rax, [r15 + MB_WAIT_TSC]
        jmp     1f

# deadline_settle: MB_DEADLINE = now + MB_SETTLE_TSC (a short watch, not a wait for the device)
deadline_settle:
        push    rax
        mov     rax, [r15 + MB_SETTLE_TSC]
1:      push    rdx
        push    rax                     # the bound
        rdtsc
        shl     rdx, 32
        or      rax, rdx
        pop     rdx
        add     rax, rdx
        mov     [r15 + MB_DEADLINE], rax
        pop     rdx
        pop     rax
        ret

# deadline_ahead: CF set (jb) while MB_DEADLINE is still ahead. Preserves every register but the flags.
deadline_ahead:
        push    rax
        push    rdx
        rdtsc
        shl     rdx, 32
        or      rax, rdx
        cmp     rax, [r15 + MB_DEADLINE]
        pop     rdx
        pop     rax
        ret

# wait_dma: until edu's DMA command register's run bit clears (rbx = BAR0)
wait_dma:
        call    deadline_set
1:      test    qword ptr [rbx + EDU_DMA_CMD], 1
        jz      2f
        call    deadline_ahead
        jb      1b                      # the deadline is ahead: poll again
2:      ret

# wait_irq: until the handler has counted the interrupt aimed at APIC r9, the (r9 + 1)-th (bounded)
wait_irq:
        call    deadline_set
1:      cmp     qword ptr [r15 + MB_IRQ_COUNT], r9
        ja      2f
        call    deadline_ahead
        jb      1b                      # the deadline is ahead: poll again
2:      ret

# irq_aim: aims the device's vector (r11 = 1: MSI-X, entry 0 at r10; 2: MSI, capability r10d of
# devfn r12d; 0: neither) at APIC r9 (physical destination, address bits 19:12), once that vCPU takes
# interrupts (bounded; if it never does, its count says so). MSI-X masks the entry while its
# address changes (PCIe 6.0 6.1.4.5: software must not change a masked-off entry's fields).
irq_aim:
        test    r9d, r9d
        jz      2f
        call    deadline_set
1:      cmp     qword ptr [r15 + MB_AP_READY + r9 * 8], 0
        jne     2f
        call    deadline_ahead
        jb      1b                      # the deadline is ahead: poll again
2:      mov     eax, r9d
        shl     eax, 12
        or      eax, LAPIC              # eax = the message address
        cmp     r11d, 1
        jne     3f
        mov     dword ptr [r10 + 12], 1 # masked
        mov     [r10], eax
        mov     dword ptr [r10 + 12], 0 # unmasked
        ret
3:      cmp     r11d, 2
        je      4f
        ret
4:      push    rdi
        mov     r8d, eax
        lea     esi, [r10d + 4]
        mov     edi, r12d
        call    cfg_write32
        pop     rdi
        ret

# each_cpu_counted: esi = PASS if every vCPU's handler counted rdx since MB_IRQ_SNAP, else FAIL;
# r8 != 0: the snapshot moves to the counts now (the storm's start)
each_cpu_counted:
        push    rdi
        mov     esi, PASS
        xor     ecx, ecx
1:      mov     rax, [r15 + MB_IRQ_COUNT_CPU + rcx * 8]
        mov     rdi, rax
        sub     rax, [r15 + MB_IRQ_SNAP + rcx * 8]
        test    r8, r8
        jz      2f
        mov     [r15 + MB_IRQ_SNAP + rcx * 8], rdi
2:      cmp     rax, rdx
        je      3f
        mov     esi, FAIL
3:      inc     ecx
        cmp     rcx, [r15 + MB_CPUS]
        jb      1b
        pop     rdi
        ret

# find_cap: edi = devfn, esi = capability ID -> eax = its offset, or 0
find_cap:
        push    rbx
        push    r12
        mov     r12d, edi
        mov     ebx, esi
        mov     esi, 0x34
        call    cfg_read16
        and     eax, 0xfc
1:      test    eax, eax
        jz      3f
        mov     esi, eax
        push    rsi
        mov     edi, r12d
        call    cfg_read16              # ID in the low byte, next in the high byte
        pop     rsi
        movzx   ecx, al
        cmp     ecx, ebx
        je      2f
        shr     eax, 8
        and     eax, 0xfc
        jmp     1b
2:      mov     eax, esi
3:      pop     r12
        pop     rbx
        ret

# check: edi = step, eax = the value read, r9d = the value expected; reports PASS or FAIL with a = eax
check:
        mov     esi, PASS
        cmp     eax, r9d
        je      1f
        mov     esi, FAIL
1:      mov     edx, eax
        xor     ecx, ecx
        xor     r8d, r8d
        jmp     report

# report: edi = step, esi = status, rdx = a, rcx = b, r8 = c
report:
        mov     eax, edi
        shl     eax, 5
        add     rax, r15
        mov     [rax + MB_RECORDS], rsi
        mov     [rax + MB_RECORDS + 8], rdx
        mov     [rax + MB_RECORDS + 16], rcx
        mov     [rax + MB_RECORDS + 24], r8
        mov     eax, edi
        mov     dx, PORT_REPORT
        out     dx, al
        ret

# configuration mechanism #1: edi = devfn, esi = register
cfg_select:
        mov     eax, edi
        shl     eax, 8
        or      eax, 0x80000000
        mov     edx, esi
        and     edx, 0xfc
        or      eax, edx
        mov     dx, CONFIG_ADDRESS
        out     dx, eax
        mov     edx, esi
        and     edx, 3
        add     edx, CONFIG_DATA
        ret

cfg_read32:                             # -> eax
        call    cfg_select
        in      eax, dx
        ret

cfg_read16:                             # -> eax (zero-extended)
        call    cfg_select
        in      ax, dx
        movzx   eax, ax
        ret

cfg_write32:                            # r8d = value
        call    cfg_select
        mov     eax, r8d
        out     dx, eax
        ret

cfg_write16:                            # r8w = value
        call    cfg_select
        mov     eax, r8d
        out     dx, ax
        ret

# ---- interrupts ---------------------------------------------------------------------------------

# build_idt: vectors 0-31 to fault stubs (which report the vector), the rest to irq_handler
build_idt:
        mov     edi, IDT
        xor     ecx, ecx
1:      cmp     ecx, 32
        jae     2f
        mov     eax, ecx
        shl     eax, 4
        add     eax, OFFSET fault_stubs
        jmp     3f
2:      mov     eax, OFFSET irq_handler
3:      idt_gate
        add     rdi, 16
        inc     ecx
        cmp     ecx, 256
        jb      1b
        idt_load
        ret

irq_handler:
        push    rax
        push    rdx
        rdtsc
        shl     rdx, 32
        or      rax, rdx
        mov     [r15 + MB_IRQ_TSC], rax
        mov     eax, LAPIC + LAPIC_ID   # APIC ID, bits 31:24: which vCPU took it
        mov     eax, [rax]
        shr     eax, 24
        lock inc qword ptr [r15 + MB_IRQ_COUNT_CPU + rax * 8]
        lock inc qword ptr [r15 + MB_IRQ_COUNT]
        apic_eoi
        pop     rdx
        pop     rax
        iretq

        .balign 16
fault_stubs:
        .set    vector, 0
        .rept   32
        .balign 16
        push    vector
        jmp     fault
        .set    vector, vector + 1
        .endr

fault:
        pop     rax                     # the vector
        mov     dx, PORT_FAULT
        out     dx, al
        cli
1:      hlt
        jmp     1b
