package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/** {@code struct kvm_irq_level}, the argument of KVM_IRQ_LINE: raise or lower a GSI (INTx). */
public final class KvmIrqLevel extends NativeStruct {

    public static final int IRQ = 0;
    public static final int LEVEL = 4;
    public static final int SIZEOF = 8;
    public static final StructLayout LAYOUT = StructLayout.of("linux/kvm.h", "kvm_irq_level", SIZEOF)
            .field("irq", IRQ, 4)
            .field("level", LEVEL, 4)
            .build();

    public KvmIrqLevel() {
        super(SIZEOF);
    }

    public KvmIrqLevel set(int irq, boolean level) {
        putU32(IRQ, irq);
        putU32(LEVEL, level ? 1 : 0);
        return this;
    }
}
