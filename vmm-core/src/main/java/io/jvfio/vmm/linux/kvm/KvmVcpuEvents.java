package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct kvm_vcpu_events} (KVM_GET/SET_VCPU_EVENTS): what a vCPU has pending or in flight
 * between instructions: an exception being delivered, an injected interrupt, NMI state, the interrupt
 * shadow after STI or MOV SS, SMM, a latched INIT. {@code flags} says which optional parts
 * KVM_SET_VCPU_EVENTS is to take ({@code KVM_VCPUEVENT_VALID_*}).
 */
public final class KvmVcpuEvents extends NativeStruct {

    public static final int EXCEPTION = 0;
    public static final int INTERRUPT = 8;
    public static final int NMI = 12;
    public static final int SIPI_VECTOR = 16;
    public static final int FLAGS = 20;
    public static final int SMI = 24;
    public static final int TRIPLE_FAULT = 28;
    public static final int RESERVED = 29;
    public static final int EXCEPTION_HAS_PAYLOAD = 55;
    public static final int EXCEPTION_PAYLOAD = 56;
    public static final int SIZEOF = 64;
    public static final StructLayout LAYOUT = StructLayout.of("asm/kvm.h", "kvm_vcpu_events", SIZEOF)
            .field("exception", EXCEPTION, 8)
            .field("exception.injected", EXCEPTION, 1)
            .field("exception.nr", EXCEPTION + 1, 1)
            .field("exception.has_error_code", EXCEPTION + 2, 1)
            .field("exception.pending", EXCEPTION + 3, 1)
            .field("exception.error_code", EXCEPTION + 4, 4)
            .field("interrupt", INTERRUPT, 4)
            .field("interrupt.shadow", INTERRUPT + 3, 1)
            .field("nmi", NMI, 4)
            .field("sipi_vector", SIPI_VECTOR, 4)
            .field("flags", FLAGS, 4)
            .field("smi", SMI, 4)
            .field("triple_fault", TRIPLE_FAULT, 1)
            .field("reserved", RESERVED, 26)
            .field("exception_has_payload", EXCEPTION_HAS_PAYLOAD, 1)
            .field("exception_payload", EXCEPTION_PAYLOAD, 8)
            .build();

    public KvmVcpuEvents() {
        super(SIZEOF);
    }

    public int flags() {
        return u32(FLAGS);
    }

    public KvmVcpuEvents flags(int flags) {
        putU32(FLAGS, flags);
        return this;
    }
}
