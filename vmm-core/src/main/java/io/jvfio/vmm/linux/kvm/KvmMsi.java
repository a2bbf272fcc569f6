package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/** {@code struct kvm_msi}, the argument of KVM_SIGNAL_MSI: one MSI message to inject. */
public final class KvmMsi extends NativeStruct {

    public static final int ADDRESS_LO = 0;
    public static final int ADDRESS_HI = 4;
    public static final int DATA = 8;
    public static final int FLAGS = 12;
    public static final int DEVID = 16;
    public static final int PAD = 20;
    public static final int SIZEOF = 32;
    public static final StructLayout LAYOUT = StructLayout.of("linux/kvm.h", "kvm_msi", SIZEOF)
            .field("address_lo", ADDRESS_LO, 4)
            .field("address_hi", ADDRESS_HI, 4)
            .field("data", DATA, 4)
            .field("flags", FLAGS, 4)
            .field("devid", DEVID, 4)
            .field("pad", PAD, 12)
            .build();

    public KvmMsi() {
        super(SIZEOF);
    }

    public KvmMsi set(long address, int data) {
        putU32(ADDRESS_LO, (int) address);
        putU32(ADDRESS_HI, (int) (address >>> 32));
        putU32(DATA, data);
        putU32(FLAGS, 0);
        putU32(DEVID, 0);
        return this;
    }

    /** The 64-bit MSI address (address_hi:address_lo). */
    public long msiAddress() {
        return Integer.toUnsignedLong(u32(ADDRESS_LO)) | ((long) u32(ADDRESS_HI) << 32);
    }

    public int data() {
        return u32(DATA);
    }
}
