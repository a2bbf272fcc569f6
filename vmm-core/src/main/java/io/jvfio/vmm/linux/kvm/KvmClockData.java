package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct kvm_clock_data} (KVM_GET_CLOCK, KVM_SET_CLOCK): the VM's kvmclock, nanoseconds the
 * guest has seen, and with {@code KVM_CLOCK_REALTIME}/{@code KVM_CLOCK_HOST_TSC} in {@code flags} the
 * host's time at the reading.
 */
public final class KvmClockData extends NativeStruct {

    public static final int CLOCK = 0;
    public static final int FLAGS = 8;
    public static final int PAD0 = 12;
    public static final int REALTIME = 16;
    public static final int HOST_TSC = 24;
    public static final int PAD = 32;
    public static final int SIZEOF = 48;
    public static final StructLayout LAYOUT = StructLayout.of("linux/kvm.h", "kvm_clock_data", SIZEOF)
            .field("clock", CLOCK, 8)
            .field("flags", FLAGS, 4)
            .field("pad0", PAD0, 4)
            .field("realtime", REALTIME, 8)
            .field("host_tsc", HOST_TSC, 8)
            .field("pad", PAD, 16)
            .build();

    public KvmClockData() {
        super(SIZEOF);
    }

    public long clock() {
        return u64(CLOCK);
    }

    public int flags() {
        return u32(FLAGS);
    }

    /** Only the clock, no flags: the clock goes on from {@code clock}, the time stopped not counted. */
    public KvmClockData set(long clock) {
        clear();
        putU64(CLOCK, clock);
        return this;
    }
}
