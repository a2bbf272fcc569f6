package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct kvm_xsave}: a vCPU's x87, SSE, AVX and further extended state in the XSAVE layout
 * (KVM_GET_XSAVE, KVM_GET_XSAVE2, KVM_SET_XSAVE). 4 KiB, or as many bytes as
 * KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2) on the VM says, when dynamic features such as AMX make the area
 * larger ({@code extra}).
 */
public final class KvmXsave extends NativeStruct {

    public static final int REGION = 0;
    public static final int EXTRA = 4096;
    public static final int SIZEOF = 4096;
    public static final StructLayout LAYOUT = StructLayout.of("asm/kvm.h", "kvm_xsave", SIZEOF)
            .field("region", REGION, 4096)
            .flexibleArray("extra", EXTRA, 4)
            .build();

    /** The legacy area's XMM registers, 16 bytes each from byte 160 (the FXSAVE layout). */
    public static final int XMM0 = 160;

    /** An area of {@code size} bytes (at least {@link #SIZEOF}). */
    public KvmXsave(int size) {
        super(Math.max(size, SIZEOF));
    }
}
