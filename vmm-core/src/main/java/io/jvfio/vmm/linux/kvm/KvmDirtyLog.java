package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct kvm_dirty_log}, the argument of KVM_GET_DIRTY_LOG: the memory slot, and where the
 * kernel writes its bitmap of the pages vCPUs wrote since the last call, one bit per 4 KiB page,
 * bit 0 of the first 64-bit word for the slot's first page. The pointer is a union with a
 * {@code __u64} pad, so it takes 8 bytes on every ABI.
 */
public final class KvmDirtyLog extends NativeStruct {

    public static final int SLOT = 0;
    public static final int PADDING1 = 4;
    public static final int DIRTY_BITMAP = 8;
    public static final int SIZEOF = 16;
    public static final StructLayout LAYOUT = StructLayout.of("linux/kvm.h", "kvm_dirty_log", SIZEOF)
            .field("slot", SLOT, 4)
            .field("padding1", PADDING1, 4)
            .field("dirty_bitmap", DIRTY_BITMAP, 8)
            .build();

    public KvmDirtyLog() {
        super(SIZEOF);
    }

    /** Slot {@code slot}'s bitmap into the memory at {@code bitmapAddress} (one bit a page, rounded up to 64). */
    public KvmDirtyLog set(int slot, long bitmapAddress) {
        clear();
        putU32(SLOT, slot);
        putU64(DIRTY_BITMAP, bitmapAddress);
        return this;
    }
}
