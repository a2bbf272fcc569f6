package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.StructLayout;

import java.nio.ByteBuffer;

/** {@code struct kvm_dtable}: a descriptor table register (GDTR, IDTR), a view into a {@link KvmSregs}. */
public final class KvmDtable {

    public static final int BASE = 0;
    public static final int LIMIT = 8;
    public static final int PADDING = 10;
    public static final int SIZEOF = 16;
    public static final StructLayout LAYOUT = StructLayout.of("asm/kvm.h", "kvm_dtable", SIZEOF)
            .field("base", BASE, 8)
            .field("limit", LIMIT, 2)
            .field("padding", PADDING, 6)
            .build();

    private final ByteBuffer memory;
    private final int at;

    KvmDtable(ByteBuffer memory, int at) {
        this.memory = memory;
        this.at = at;
    }

    public long base() {
        return memory.getLong(at + BASE);
    }

    public int limit() {
        return memory.getShort(at + LIMIT) & 0xffff;
    }

    public KvmDtable set(long base, int limit) {
        memory.putLong(at + BASE, base);
        memory.putShort(at + LIMIT, (short) limit);
        return this;
    }
}
