package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct kvm_msrs} with its {@code struct kvm_msr_entry} array, the argument of KVM_GET_MSRS and
 * KVM_SET_MSRS: model-specific registers by index, each with its 64-bit value. Both ioctls return how
 * many entries they handled, stopping at the first MSR KVM refuses.
 */
public final class KvmMsrs extends NativeStruct {

    public static final int NMSRS = 0;
    public static final int PAD = 4;
    public static final int ENTRIES = 8;
    public static final int SIZEOF = 8;
    public static final StructLayout LAYOUT = StructLayout.of("asm/kvm.h", "kvm_msrs", SIZEOF)
            .field("nmsrs", NMSRS, 4)
            .field("pad", PAD, 4)
            .flexibleArray("entries", ENTRIES, 16)
            .build();

    public static final int ENTRY_INDEX = 0;
    public static final int ENTRY_RESERVED = 4;
    public static final int ENTRY_DATA = 8;
    public static final int ENTRY_SIZEOF = 16;
    public static final StructLayout ENTRY_LAYOUT = StructLayout.of("asm/kvm.h", "kvm_msr_entry", ENTRY_SIZEOF)
            .field("index", ENTRY_INDEX, 4)
            .field("reserved", ENTRY_RESERVED, 4)
            .field("data", ENTRY_DATA, 8)
            .build();

    private final int maxEntries;

    /** Room for {@code maxEntries} entries; none in use yet. */
    public KvmMsrs(int maxEntries) {
        super(SIZEOF + ENTRY_SIZEOF * Math.max(maxEntries, 1));
        this.maxEntries = maxEntries;
    }

    public int maxEntries() {
        return maxEntries;
    }

    public int nmsrs() {
        return u32(NMSRS);
    }

    public KvmMsrs nmsrs(int n) {
        if (n < 0 || n > maxEntries) {
            throw new IllegalArgumentException(n + " MSRs in a kvm_msrs with room for " + maxEntries);
        }
        putU32(NMSRS, n);
        return this;
    }

    private int entry(int i) {
        return ENTRIES + i * ENTRY_SIZEOF;
    }

    public int index(int i) {
        return u32(entry(i) + ENTRY_INDEX);
    }

    public long data(int i) {
        return u64(entry(i) + ENTRY_DATA);
    }

    /** Entry {@code i}: MSR {@code index} with {@code data} (reserved cleared). */
    public KvmMsrs entry(int i, int index, long data) {
        putU32(entry(i) + ENTRY_INDEX, index);
        putU32(entry(i) + ENTRY_RESERVED, 0);
        putU64(entry(i) + ENTRY_DATA, data);
        return this;
    }
}
