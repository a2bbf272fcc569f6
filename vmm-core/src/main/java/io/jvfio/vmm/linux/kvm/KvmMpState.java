package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct kvm_mp_state}, the argument of KVM_GET_MP_STATE and KVM_SET_MP_STATE: a vCPU's
 * multiprocessing state ({@code KVM_MP_STATE_*}). With an in-kernel irqchip KVM creates every vCPU but
 * the boot one UNINITIALIZED, waiting for INIT and SIPI; a VMM that starts it directly sets RUNNABLE.
 */
public final class KvmMpState extends NativeStruct {

    public static final int MP_STATE = 0;
    public static final int SIZEOF = 4;
    public static final StructLayout LAYOUT = StructLayout.of("linux/kvm.h", "kvm_mp_state", SIZEOF)
            .field("mp_state", MP_STATE, 4)
            .build();

    public KvmMpState() {
        super(SIZEOF);
    }

    public KvmMpState set(int mpState) {
        putU32(MP_STATE, mpState);
        return this;
    }

    public int mpState() {
        return u32(MP_STATE);
    }
}
