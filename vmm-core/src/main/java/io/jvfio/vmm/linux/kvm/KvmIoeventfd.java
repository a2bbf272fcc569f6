package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct kvm_ioeventfd}, the argument of KVM_IOEVENTFD: a guest write to {@code addr} signals
 * the eventfd in the kernel instead of exiting to the VMM (doorbells).
 */
public final class KvmIoeventfd extends NativeStruct {

    public static final int DATAMATCH = 0;
    public static final int ADDR = 8;
    public static final int LEN = 16;
    public static final int FD = 20;
    public static final int FLAGS = 24;
    public static final int PAD = 28;
    public static final int SIZEOF = 64;
    public static final StructLayout LAYOUT = StructLayout.of("linux/kvm.h", "kvm_ioeventfd", SIZEOF)
            .field("datamatch", DATAMATCH, 8)
            .field("addr", ADDR, 8)
            .field("len", LEN, 4)
            .field("fd", FD, 4)
            .field("flags", FLAGS, 4)
            .field("pad", PAD, 36)
            .build();

    public KvmIoeventfd() {
        super(SIZEOF);
    }

    public KvmIoeventfd set(long addr, int len, int fd, int flags, long datamatch) {
        clear();
        putU64(DATAMATCH, datamatch);
        putU64(ADDR, addr);
        putU32(LEN, len);
        putU32(FD, fd);
        putU32(FLAGS, flags);
        return this;
    }
}
