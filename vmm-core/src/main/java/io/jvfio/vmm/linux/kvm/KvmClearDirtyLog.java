package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct kvm_clear_dirty_log}, the argument of KVM_CLEAR_DIRTY_LOG (with
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2): write-protects again, and clears in the log, the pages of
 * slot {@code slot} from {@code first_page} whose bits are set in the bitmap, so a migration sends
 * a page and re-arms its tracking in the same round. {@code first_page} must be a multiple of 64,
 * and {@code num_pages} too unless the range ends at the slot's end.
 */
public final class KvmClearDirtyLog extends NativeStruct {

    public static final int SLOT = 0;
    public static final int NUM_PAGES = 4;
    public static final int FIRST_PAGE = 8;
    public static final int DIRTY_BITMAP = 16;
    public static final int SIZEOF = 24;
    public static final StructLayout LAYOUT = StructLayout.of("linux/kvm.h", "kvm_clear_dirty_log", SIZEOF)
            .field("slot", SLOT, 4)
            .field("num_pages", NUM_PAGES, 4)
            .field("first_page", FIRST_PAGE, 8)
            .field("dirty_bitmap", DIRTY_BITMAP, 8)
            .build();

    public KvmClearDirtyLog() {
        super(SIZEOF);
    }

    public KvmClearDirtyLog set(int slot, long firstPage, int numPages, long bitmapAddress) {
        clear();
        putU32(SLOT, slot);
        putU32(NUM_PAGES, numPages);
        putU64(FIRST_PAGE, firstPage);
        putU64(DIRTY_BITMAP, bitmapAddress);
        return this;
    }
}
