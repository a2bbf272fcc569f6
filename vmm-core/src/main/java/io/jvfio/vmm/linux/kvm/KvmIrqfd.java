package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct kvm_irqfd}, the argument of KVM_IRQFD: a write to the eventfd raises the GSI inside
 * the kernel, with no trip through user space. With KVM_IRQFD_FLAG_RESAMPLE, KVM signals
 * {@code resamplefd} on EOI of a level-triggered GSI (how VFIO INTx is re-armed).
 */
public final class KvmIrqfd extends NativeStruct {

    public static final int FD = 0;
    public static final int GSI = 4;
    public static final int FLAGS = 8;
    public static final int RESAMPLEFD = 12;
    public static final int PAD = 16;
    public static final int SIZEOF = 32;
    public static final StructLayout LAYOUT = StructLayout.of("linux/kvm.h", "kvm_irqfd", SIZEOF)
            .field("fd", FD, 4)
            .field("gsi", GSI, 4)
            .field("flags", FLAGS, 4)
            .field("resamplefd", RESAMPLEFD, 4)
            .field("pad", PAD, 16)
            .build();

    public KvmIrqfd() {
        super(SIZEOF);
    }

    public KvmIrqfd set(int fd, int gsi, int flags, int resampleFd) {
        clear();
        putU32(FD, fd);
        putU32(GSI, gsi);
        putU32(FLAGS, flags);
        putU32(RESAMPLEFD, resampleFd);
        return this;
    }

    public int fd() {
        return u32(FD);
    }

    public int gsi() {
        return u32(GSI);
    }

    public int flags() {
        return u32(FLAGS);
    }
}
