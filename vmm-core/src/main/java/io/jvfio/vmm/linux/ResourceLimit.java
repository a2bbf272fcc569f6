package io.jvfio.vmm.linux;

import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.linux.jna.StructLayout;

import static io.jvfio.vmm.linux.jna.LinuxConstants.RLIMIT_MEMLOCK;
import static io.jvfio.vmm.linux.jna.LinuxConstants.RLIM_INFINITY;

/**
 * A process resource limit, soft and hard, in bytes (or {@link #UNLIMITED}). VFIO Type1 pins every
 * page it maps for DMA and charges it to RLIMIT_MEMLOCK, so this is what decides whether guest RAM
 * can be mapped into a container.
 */
public record ResourceLimit(String resource, long soft, long hard) {

    /** {@code RLIM_INFINITY}. */
    public static final long UNLIMITED = RLIM_INFINITY;

    // struct rlimit (sys/resource.h)
    static final int RLIM_CUR = 0;
    static final int RLIM_MAX = 8;
    static final int RLIMIT_SIZEOF = 16;
    static final StructLayout RLIMIT_LAYOUT = StructLayout.of("sys/resource.h", "rlimit", RLIMIT_SIZEOF)
            .field("rlim_cur", RLIM_CUR, 8)
            .field("rlim_max", RLIM_MAX, 8)
            .build();

    /** The locked-memory limit: how much memory this process may pin. */
    public static ResourceLimit memlock() {
        return get(RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK");
    }

    private static ResourceLimit get(int resource, String name) {
        ThreadScratch scratch = ThreadScratch.get();
        if (LibC.getrlimit(resource, scratch.address()) < 0) {
            throw new SyscallException("getrlimit", name, LibC.errno());
        }
        return new ResourceLimit(name, scratch.u64At(RLIM_CUR), scratch.u64At(RLIM_MAX));
    }

    /** True when the soft limit lets this process lock {@code bytes} more bytes. */
    public boolean allows(long bytes) {
        return soft == UNLIMITED || Long.compareUnsigned(bytes, soft) <= 0;
    }

    @Override
    public String toString() {
        return resource + " soft " + format(soft) + ", hard " + format(hard);
    }

    private static String format(long value) {
        return value == UNLIMITED ? "unlimited" : Long.toUnsignedString(value) + " bytes";
    }
}
