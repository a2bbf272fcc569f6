package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/** {@code struct kvm_debugregs} (KVM_GET/SET_DEBUGREGS): DR0-DR3, DR6 and DR7; {@code flags} must be 0 to set. */
public final class KvmDebugregs extends NativeStruct {

    public static final int DB = 0;
    public static final int DR6 = 32;
    public static final int DR7 = 40;
    public static final int FLAGS = 48;
    public static final int RESERVED = 56;
    public static final int SIZEOF = 128;
    public static final StructLayout LAYOUT = StructLayout.of("asm/kvm.h", "kvm_debugregs", SIZEOF)
            .field("db", DB, 32)
            .field("dr6", DR6, 8)
            .field("dr7", DR7, 8)
            .field("flags", FLAGS, 8)
            .field("reserved", RESERVED, 72)
            .build();

    public KvmDebugregs() {
        super(SIZEOF);
    }

    public long dr7() {
        return u64(DR7);
    }

    public KvmDebugregs flags(long flags) {
        putU64(FLAGS, flags);
        return this;
    }
}
