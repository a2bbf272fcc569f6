package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct kvm_fpu}: the x87 and SSE state in the FXSAVE format (KVM_GET_FPU, KVM_SET_FPU), for a
 * KVM without KVM_CAP_XSAVE, whose {@link KvmXsave} holds all of it and more.
 */
public final class KvmFpu extends NativeStruct {

    public static final int FPR = 0;
    public static final int FCW = 128;
    public static final int FSW = 130;
    public static final int FTWX = 132;
    public static final int PAD1 = 133;
    public static final int LAST_OPCODE = 134;
    public static final int LAST_IP = 136;
    public static final int LAST_DP = 144;
    public static final int XMM = 152;
    public static final int MXCSR = 408;
    public static final int PAD2 = 412;
    public static final int SIZEOF = 416;
    public static final StructLayout LAYOUT = StructLayout.of("asm/kvm.h", "kvm_fpu", SIZEOF)
            .field("fpr", FPR, 128)
            .field("fcw", FCW, 2)
            .field("fsw", FSW, 2)
            .field("ftwx", FTWX, 1)
            .field("pad1", PAD1, 1)
            .field("last_opcode", LAST_OPCODE, 2)
            .field("last_ip", LAST_IP, 8)
            .field("last_dp", LAST_DP, 8)
            .field("xmm", XMM, 256)
            .field("mxcsr", MXCSR, 4)
            .field("pad2", PAD2, 4)
            .build();

    public KvmFpu() {
        super(SIZEOF);
    }
}
