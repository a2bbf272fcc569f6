package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.StructLayout;

import java.nio.ByteBuffer;

/** {@code struct kvm_segment}: one segment register as KVM sees it, a view into a {@link KvmSregs}. */
public final class KvmSegment {

    public static final int BASE = 0;
    public static final int LIMIT = 8;
    public static final int SELECTOR = 12;
    public static final int TYPE = 14;
    public static final int PRESENT = 15;
    public static final int DPL = 16;
    public static final int DB = 17;
    public static final int S = 18;
    public static final int L = 19;
    public static final int G = 20;
    public static final int AVL = 21;
    public static final int UNUSABLE = 22;
    public static final int PADDING = 23;
    public static final int SIZEOF = 24;
    public static final StructLayout LAYOUT = StructLayout.of("asm/kvm.h", "kvm_segment", SIZEOF)
            .field("base", BASE, 8)
            .field("limit", LIMIT, 4)
            .field("selector", SELECTOR, 2)
            .field("type", TYPE, 1)
            .field("present", PRESENT, 1)
            .field("dpl", DPL, 1)
            .field("db", DB, 1)
            .field("s", S, 1)
            .field("l", L, 1)
            .field("g", G, 1)
            .field("avl", AVL, 1)
            .field("unusable", UNUSABLE, 1)
            .field("padding", PADDING, 1)
            .build();

    private final ByteBuffer memory;
    private final int at;

    KvmSegment(ByteBuffer memory, int at) {
        this.memory = memory;
        this.at = at;
    }

    public long base() {
        return memory.getLong(at + BASE);
    }

    public int limit() {
        return memory.getInt(at + LIMIT);
    }

    public int selector() {
        return memory.getShort(at + SELECTOR) & 0xffff;
    }

    public int type() {
        return memory.get(at + TYPE) & 0xff;
    }

    /** Sets every field, as a flat descriptor: {@code l} for 64-bit code, {@code db} for 32-bit. */
    public KvmSegment set(long base, int limit, int selector, int type, boolean present, int dpl, boolean db,
            boolean s, boolean l, boolean g) {
        memory.putLong(at + BASE, base);
        memory.putInt(at + LIMIT, limit);
        memory.putShort(at + SELECTOR, (short) selector);
        memory.put(at + TYPE, (byte) type);
        memory.put(at + PRESENT, (byte) (present ? 1 : 0));
        memory.put(at + DPL, (byte) dpl);
        memory.put(at + DB, (byte) (db ? 1 : 0));
        memory.put(at + S, (byte) (s ? 1 : 0));
        memory.put(at + L, (byte) (l ? 1 : 0));
        memory.put(at + G, (byte) (g ? 1 : 0));
        memory.put(at + AVL, (byte) 0);
        memory.put(at + UNUSABLE, (byte) 0);
        memory.put(at + PADDING, (byte) 0);
        return this;
    }

    public boolean l() {
        return memory.get(at + L) != 0;
    }

    public boolean present() {
        return memory.get(at + PRESENT) != 0;
    }
}
