package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct kvm_userspace_memory_region}, the argument of KVM_SET_USER_MEMORY_REGION: guest
 * physical memory backed by process memory. A size of 0 deletes the slot.
 */
public final class KvmUserspaceMemoryRegion extends NativeStruct {

    public static final int SLOT = 0;
    public static final int FLAGS = 4;
    public static final int GUEST_PHYS_ADDR = 8;
    public static final int MEMORY_SIZE = 16;
    public static final int USERSPACE_ADDR = 24;
    public static final int SIZEOF = 32;
    public static final StructLayout LAYOUT =
            StructLayout.of("linux/kvm.h", "kvm_userspace_memory_region", SIZEOF)
                    .field("slot", SLOT, 4)
                    .field("flags", FLAGS, 4)
                    .field("guest_phys_addr", GUEST_PHYS_ADDR, 8)
                    .field("memory_size", MEMORY_SIZE, 8)
                    .field("userspace_addr", USERSPACE_ADDR, 8)
                    .build();

    public KvmUserspaceMemoryRegion() {
        super(SIZEOF);
    }

    public KvmUserspaceMemoryRegion set(int slot, int flags, long guestPhysAddr, long memorySize,
            long userspaceAddr) {
        putU32(SLOT, slot);
        putU32(FLAGS, flags);
        putU64(GUEST_PHYS_ADDR, guestPhysAddr);
        putU64(MEMORY_SIZE, memorySize);
        putU64(USERSPACE_ADDR, userspaceAddr);
        return this;
    }

    public int slot() {
        return u32(SLOT);
    }

    public int flags() {
        return u32(FLAGS);
    }

    public long guestPhysAddr() {
        return u64(GUEST_PHYS_ADDR);
    }

    public long memorySize() {
        return u64(MEMORY_SIZE);
    }

    public long userspaceAddr() {
        return u64(USERSPACE_ADDR);
    }
}
