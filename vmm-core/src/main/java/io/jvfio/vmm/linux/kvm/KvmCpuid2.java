package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct kvm_cpuid2} with its {@code struct kvm_cpuid_entry2} array: the CPUID leaves KVM
 * supports (KVM_GET_SUPPORTED_CPUID) and those a vCPU reports (KVM_SET_CPUID2).
 */
public final class KvmCpuid2 extends NativeStruct {

    public static final int NENT = 0;
    public static final int PADDING = 4;
    public static final int ENTRIES = 8;
    public static final int SIZEOF = 8;
    public static final StructLayout LAYOUT = StructLayout.of("asm/kvm.h", "kvm_cpuid2", SIZEOF)
            .field("nent", NENT, 4)
            .field("padding", PADDING, 4)
            .flexibleArray("entries", ENTRIES, 40)
            .build();

    public static final int ENTRY_FUNCTION = 0;
    public static final int ENTRY_INDEX = 4;
    public static final int ENTRY_FLAGS = 8;
    public static final int ENTRY_EAX = 12;
    public static final int ENTRY_EBX = 16;
    public static final int ENTRY_ECX = 20;
    public static final int ENTRY_EDX = 24;
    public static final int ENTRY_PADDING = 28;
    public static final int ENTRY_SIZEOF = 40;
    public static final StructLayout ENTRY_LAYOUT = StructLayout.of("asm/kvm.h", "kvm_cpuid_entry2", ENTRY_SIZEOF)
            .field("function", ENTRY_FUNCTION, 4)
            .field("index", ENTRY_INDEX, 4)
            .field("flags", ENTRY_FLAGS, 4)
            .field("eax", ENTRY_EAX, 4)
            .field("ebx", ENTRY_EBX, 4)
            .field("ecx", ENTRY_ECX, 4)
            .field("edx", ENTRY_EDX, 4)
            .field("padding", ENTRY_PADDING, 12)
            .build();

    private final int maxEntries;

    public KvmCpuid2(int maxEntries) {
        super(SIZEOF + ENTRY_SIZEOF * Math.max(maxEntries, 0));
        this.maxEntries = maxEntries;
        putU32(NENT, maxEntries);
    }

    public int maxEntries() {
        return maxEntries;
    }

    /** The number of entries (set by KVM_GET_SUPPORTED_CPUID, read by KVM_SET_CPUID2). */
    public int nent() {
        return u32(NENT);
    }

    public KvmCpuid2 nent(int value) {
        putU32(NENT, value);
        return this;
    }

    private int entry(int i) {
        return ENTRIES + i * ENTRY_SIZEOF;
    }

    public int function(int i) {
        return u32(entry(i) + ENTRY_FUNCTION);
    }

    public int index(int i) {
        return u32(entry(i) + ENTRY_INDEX);
    }

    public int eax(int i) {
        return u32(entry(i) + ENTRY_EAX);
    }

    public int ebx(int i) {
        return u32(entry(i) + ENTRY_EBX);
    }

    public int ecx(int i) {
        return u32(entry(i) + ENTRY_ECX);
    }

    public int edx(int i) {
        return u32(entry(i) + ENTRY_EDX);
    }

    public KvmCpuid2 ecx(int i, int value) {
        putU32(entry(i) + ENTRY_ECX, value);
        return this;
    }

    public KvmCpuid2 edx(int i, int value) {
        putU32(entry(i) + ENTRY_EDX, value);
        return this;
    }
}
