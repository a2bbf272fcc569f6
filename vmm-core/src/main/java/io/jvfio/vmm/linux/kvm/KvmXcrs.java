package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct kvm_xcrs} with its {@code struct kvm_xcr} entries: a vCPU's extended control
 * registers (XCR0, which states XSAVE manages), for KVM_GET_XCRS and KVM_SET_XCRS.
 */
public final class KvmXcrs extends NativeStruct {

    public static final int NR_XCRS = 0;
    public static final int FLAGS = 4;
    public static final int XCRS = 8;
    public static final int PADDING = 264;
    public static final int SIZEOF = 392;

    public static final int XCR_XCR = 0;
    public static final int XCR_RESERVED = 4;
    public static final int XCR_VALUE = 8;
    public static final int XCR_SIZEOF = 16;
    public static final StructLayout XCR_LAYOUT = StructLayout.of("asm/kvm.h", "kvm_xcr", XCR_SIZEOF)
            .field("xcr", XCR_XCR, 4)
            .field("reserved", XCR_RESERVED, 4)
            .field("value", XCR_VALUE, 8)
            .build();
    public static final StructLayout LAYOUT = StructLayout.of("asm/kvm.h", "kvm_xcrs", SIZEOF)
            .field("nr_xcrs", NR_XCRS, 4)
            .field("flags", FLAGS, 4)
            .field("xcrs", XCRS, XCR_SIZEOF * KvmConstants.KVM_MAX_XCRS)
            .field("padding", PADDING, 128)
            .build();

    public KvmXcrs() {
        super(SIZEOF);
    }

    public int nrXcrs() {
        return u32(NR_XCRS);
    }

    public int xcr(int i) {
        return u32(XCRS + i * XCR_SIZEOF + XCR_XCR);
    }

    public long value(int i) {
        return u64(XCRS + i * XCR_SIZEOF + XCR_VALUE);
    }
}
