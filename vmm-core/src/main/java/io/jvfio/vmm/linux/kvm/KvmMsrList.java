package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct kvm_msr_list}, the argument of KVM_GET_MSR_INDEX_LIST on {@code /dev/kvm}: the MSRs
 * KVM saves and restores for a VMM (those it virtualizes and those it emulates). Given too little
 * room the ioctl fails with E2BIG and writes the number it needs into {@code nmsrs}.
 */
public final class KvmMsrList extends NativeStruct {

    public static final int NMSRS = 0;
    public static final int INDICES = 4;
    public static final int SIZEOF = 4;
    public static final StructLayout LAYOUT = StructLayout.of("asm/kvm.h", "kvm_msr_list", SIZEOF)
            .field("nmsrs", NMSRS, 4)
            .flexibleArray("indices", INDICES, 4)
            .build();

    private final int maxEntries;

    public KvmMsrList(int maxEntries) {
        super(SIZEOF + 4 * Math.max(maxEntries, 1));
        this.maxEntries = maxEntries;
        putU32(NMSRS, maxEntries);
    }

    public int maxEntries() {
        return maxEntries;
    }

    public int nmsrs() {
        return u32(NMSRS);
    }

    public int index(int i) {
        return u32(INDICES + 4 * i);
    }
}
