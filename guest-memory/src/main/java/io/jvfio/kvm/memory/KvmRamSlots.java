package io.jvfio.kvm.memory;

import io.jvfio.kvm.KvmVm;
import io.jvfio.memory.DmaMapping;
import io.jvfio.memory.DmaMappingListener;
import io.jvfio.memory.GuestMemory;
import io.jvfio.vmm.linux.MemoryMapping;
import io.jvfio.vmm.migration.DirtyBitmap;
import io.jvfio.vmm.migration.DirtyLog;
import io.jvfio.vmm.migration.DirtyPages;

import java.nio.ByteOrder;
import java.nio.LongBuffer;
import java.util.HashMap;
import java.util.Map;

import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_READ;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_WRITE;

/**
 * Guest RAM as KVM memory slots: each region of a {@link GuestMemory} becomes a slot at its guest
 * physical address, and goes before its memory does (the listener contract), so a vCPU never runs
 * on freed pages.
 *
 * <p>It is also the {@link DirtyLog} of what the vCPUs write into that RAM, for RAM pre-copy: KVM's
 * dirty log (KVM_MEM_LOG_DIRTY_PAGES on each writable slot, KVM_GET_DIRTY_LOG to read and clear
 * it). A slot added while logging is on logs from the start. Each slot's bitmap is allocated once,
 * when logging starts or the slot comes, and reused by every {@link #collect}, which allocates
 * nothing.
 */
public final class KvmRamSlots implements DmaMappingListener, DirtyLog {

    /** KVM's dirty log has one bit per 4 KiB page, whatever pages back the slot. */
    private static final long PAGE = 4096;

    private final KvmVm vm;
    private final Map<Long, Slot> slots = new HashMap<>();
    private boolean logging;

    /** One slot: where it is, whether it can be written (read-only ones are never dirty), its bitmap while logging. */
    private static final class Slot {
        final int slot;
        final long gpa;
        final long size;
        final boolean writable;
        MemoryMapping bitmap;
        LongBuffer words;

        Slot(int slot, long gpa, long size, boolean writable) {
            this.slot = slot;
            this.gpa = gpa;
            this.size = size;
            this.writable = writable;
        }

        long pages() {
            return (size + PAGE - 1) / PAGE;
        }

        void allocateBitmap() {
            if (bitmap == null) {
                // KVM writes one bit per page, rounded up to whole 64-bit words.
                long bytes = (pages() + 63) / 64 * 8;
                bitmap = MemoryMapping.anonymous(bytes, PROT_READ | PROT_WRITE, "dirty bitmap of memory slot " + slot);
                words = bitmap.byteBuffer().order(ByteOrder.nativeOrder()).asLongBuffer();
            }
        }

        void freeBitmap() {
            if (bitmap != null) {
                bitmap.close();
                bitmap = null;
                words = null;
            }
        }
    }

    public KvmRamSlots(KvmVm vm) {
        this.vm = vm;
    }

    @Override
    public synchronized void map(DmaMapping m) {
        boolean log = logging && m.writable();
        Slot s = new Slot(vm.addMemory(m.iova(), m.size(), m.hostAddress(), !m.writable(), log), m.iova(), m.size(),
                m.writable());
        slots.put(m.iova(), s);
        if (log) {
            s.allocateBitmap();
        }
    }

    @Override
    public synchronized void unmap(DmaMapping m) {
        Slot s = slots.remove(m.iova());
        if (s != null) {
            vm.removeMemory(s.slot);
            s.freeBitmap();
        }
    }

    /** Turns KVM's dirty log on for every writable RAM slot; every page counts as clean from here on. */
    @Override
    public synchronized void start() {
        if (logging) {
            // Already on: what was written so far is dropped, as a new start promises.
            collect((address, length) -> { });
            return;
        }
        // On from the first slot: a slot that refuses leaves the others logging, and stop() turns them off.
        logging = true;
        try {
            for (Slot s : slots.values()) {
                if (s.writable) {
                    s.allocateBitmap();
                    vm.logDirtyPages(s.slot, true);
                }
            }
        } catch (RuntimeException e) {
            try {
                stop();
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /**
     * Reports the runs of pages the vCPUs wrote since {@link #start} or the previous collect, slot by
     * slot, adjacent pages as one run, and clears them in KVM.
     */
    @Override
    public synchronized void collect(DirtyPages into) {
        if (!logging) {
            return;
        }
        for (Slot s : slots.values()) {
            if (s.bitmap != null) {
                vm.dirtyLog(s.slot, s.bitmap.address());
                DirtyBitmap.report(s.words, s.gpa, s.size, PAGE, into);
            }
        }
    }

    /** Turns the dirty log off on every slot and frees the bitmaps; idempotent. */
    @Override
    public synchronized void stop() {
        if (!logging) {
            return;
        }
        logging = false;
        for (Slot s : slots.values()) {
            if (s.bitmap != null) {
                vm.logDirtyPages(s.slot, false);
                s.freeBitmap();
            }
        }
    }
}
