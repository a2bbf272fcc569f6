package io.jvfio.kvm;

import io.jvfio.vmm.linux.kvm.KvmRegs;
import io.jvfio.vmm.linux.kvm.KvmSregs;

/**
 * Puts a vCPU straight into 64-bit long mode, as a small test guest needs (no firmware, no real-mode
 * start): a GDT with a 64-bit code and a flat data segment, page tables that map the first 4 GiB
 * 1:1 with 2 MiB pages (the last GiB, where MMIO and the local APIC live, uncached; 1 GiB pages
 * triple-fault on these machines), and CR0/CR3/CR4/EFER with paging, PAE and LME/LMA on.
 * {@link LongModeProgram} uses it to start a program on every vCPU.
 */
public final class X86LongMode {

    public static final long GDT = 0x1000;
    /**
     * The page left free between the GDT and the page tables, for the guest's IDT: where the guests'
     * shared assembly include ({@code io/jvfio/kvm/x86-interrupts.inc}, {@code IDT}) builds it.
     */
    public static final long IDT = 0x2000;
    public static final long PML4 = 0x3000;
    public static final long PDPT = 0x4000;
    public static final long PD = 0x5000;
    /** The first byte after the tables: guest programs go above it. */
    public static final long TABLES_END = PD + 4 * 0x1000;
    public static final int CODE_SELECTOR = 0x08;
    public static final int DATA_SELECTOR = 0x10;

    static final long CR0_PE_MP_ET_NE_WP_AM_PG = 0x8005_0033L;
    static final long CR4_PAE = 0x20;
    static final long EFER_LME_LMA = 0x500;
    private static final long PRESENT_WRITABLE = 0x3;
    private static final long LARGE_PAGE = 0x80;
    private static final long UNCACHED = 0x18; // PCD | PWT

    /** Where the tables are written: guest physical memory, a little-endian u64 at a time. */
    @FunctionalInterface
    public interface GuestWriter {
        void writeU64(long gpa, long value);
    }

    private X86LongMode() {
    }

    /** Writes the GDT and the page tables into guest memory below {@link #TABLES_END}. */
    public static void writeTables(GuestWriter memory) {
        memory.writeU64(GDT, 0);
        memory.writeU64(GDT + 8, 0x00AF_9B00_0000_FFFFL);  // 64-bit code: L, present, execute/read
        memory.writeU64(GDT + 16, 0x00CF_9300_0000_FFFFL); // data: present, read/write, 4 GiB
        memory.writeU64(PML4, PDPT | PRESENT_WRITABLE);
        for (int i = 0; i < 4; i++) {
            memory.writeU64(PDPT + 8L * i, (PD + 0x1000L * i) | PRESENT_WRITABLE);
            for (int j = 0; j < 512; j++) {
                long address = ((long) i * 512 + j) << 21;
                memory.writeU64(PD + 0x1000L * i + 8L * j, address | PRESENT_WRITABLE | LARGE_PAGE
                        | (i == 3 ? UNCACHED : 0));
            }
        }
    }

    /** Sets the vCPU's registers: long mode on, CS/DS/SS from the GDT, {@code entry} and {@code stack}. */
    public static void enter(KvmVcpu vcpu, long entry, long stack) {
        KvmSregs s = vcpu.sregs();
        s.cs().set(0, 0xFFFF_FFFF, CODE_SELECTOR, 0xB, true, 0, false, true, true, true);
        s.ds().set(0, 0xFFFF_FFFF, DATA_SELECTOR, 0x3, true, 0, true, true, false, true);
        s.es().set(0, 0xFFFF_FFFF, DATA_SELECTOR, 0x3, true, 0, true, true, false, true);
        s.fs().set(0, 0xFFFF_FFFF, DATA_SELECTOR, 0x3, true, 0, true, true, false, true);
        s.gs().set(0, 0xFFFF_FFFF, DATA_SELECTOR, 0x3, true, 0, true, true, false, true);
        s.ss().set(0, 0xFFFF_FFFF, DATA_SELECTOR, 0x3, true, 0, true, true, false, true);
        s.gdt().set(GDT, 3 * 8 - 1);
        s.cr0(CR0_PE_MP_ET_NE_WP_AM_PG).cr3(PML4).cr4(CR4_PAE).efer(EFER_LME_LMA);
        vcpu.setSregs(s);
        KvmRegs r = new KvmRegs();
        r.set(KvmRegs.Register.RIP, entry).set(KvmRegs.Register.RSP, stack).set(KvmRegs.Register.RFLAGS, 0x2);
        vcpu.setRegs(r);
    }
}
