package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/** {@code struct kvm_sregs}: segment, descriptor-table and control registers (KVM_GET/SET_SREGS). */
public final class KvmSregs extends NativeStruct {

    public static final int CS = 0;
    public static final int DS = 24;
    public static final int ES = 48;
    public static final int FS = 72;
    public static final int GS = 96;
    public static final int SS = 120;
    public static final int TR = 144;
    public static final int LDT = 168;
    public static final int GDT = 192;
    public static final int IDT = 208;
    public static final int CR0 = 224;
    public static final int CR2 = 232;
    public static final int CR3 = 240;
    public static final int CR4 = 248;
    public static final int CR8 = 256;
    public static final int EFER = 264;
    public static final int APIC_BASE = 272;
    public static final int INTERRUPT_BITMAP = 280;
    public static final int SIZEOF = 312;
    public static final StructLayout LAYOUT = StructLayout.of("asm/kvm.h", "kvm_sregs", SIZEOF)
            .nested("cs", CS, KvmSegment.LAYOUT)
            .nested("ds", DS, KvmSegment.LAYOUT)
            .nested("es", ES, KvmSegment.LAYOUT)
            .nested("fs", FS, KvmSegment.LAYOUT)
            .nested("gs", GS, KvmSegment.LAYOUT)
            .nested("ss", SS, KvmSegment.LAYOUT)
            .nested("tr", TR, KvmSegment.LAYOUT)
            .nested("ldt", LDT, KvmSegment.LAYOUT)
            .nested("gdt", GDT, KvmDtable.LAYOUT)
            .nested("idt", IDT, KvmDtable.LAYOUT)
            .field("cr0", CR0, 8)
            .field("cr2", CR2, 8)
            .field("cr3", CR3, 8)
            .field("cr4", CR4, 8)
            .field("cr8", CR8, 8)
            .field("efer", EFER, 8)
            .field("apic_base", APIC_BASE, 8)
            .field("interrupt_bitmap", INTERRUPT_BITMAP, 32)
            .build();

    private final KvmSegment cs = new KvmSegment(memory(), CS);
    private final KvmSegment ds = new KvmSegment(memory(), DS);
    private final KvmSegment es = new KvmSegment(memory(), ES);
    private final KvmSegment fs = new KvmSegment(memory(), FS);
    private final KvmSegment gs = new KvmSegment(memory(), GS);
    private final KvmSegment ss = new KvmSegment(memory(), SS);
    private final KvmSegment tr = new KvmSegment(memory(), TR);
    private final KvmSegment ldt = new KvmSegment(memory(), LDT);
    private final KvmDtable gdt = new KvmDtable(memory(), GDT);
    private final KvmDtable idt = new KvmDtable(memory(), IDT);

    public KvmSregs() {
        super(SIZEOF);
    }

    public KvmSegment cs() {
        return cs;
    }

    public KvmSegment ds() {
        return ds;
    }

    public KvmSegment es() {
        return es;
    }

    public KvmSegment fs() {
        return fs;
    }

    public KvmSegment gs() {
        return gs;
    }

    public KvmSegment ss() {
        return ss;
    }

    public KvmSegment tr() {
        return tr;
    }

    public KvmSegment ldt() {
        return ldt;
    }

    public KvmDtable gdt() {
        return gdt;
    }

    public KvmDtable idt() {
        return idt;
    }

    public long cr0() {
        return u64(CR0);
    }

    public KvmSregs cr0(long value) {
        putU64(CR0, value);
        return this;
    }

    public long cr3() {
        return u64(CR3);
    }

    public KvmSregs cr3(long value) {
        putU64(CR3, value);
        return this;
    }

    public long cr4() {
        return u64(CR4);
    }

    public KvmSregs cr4(long value) {
        putU64(CR4, value);
        return this;
    }

    public long efer() {
        return u64(EFER);
    }

    public KvmSregs efer(long value) {
        putU64(EFER, value);
        return this;
    }

    public long apicBase() {
        return u64(APIC_BASE);
    }
}
