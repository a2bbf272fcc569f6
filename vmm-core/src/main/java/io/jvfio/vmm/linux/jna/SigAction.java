package io.jvfio.vmm.linux.jna;

/**
 * {@code struct sigaction} (signal.h, glibc x86_64): a handler, the signals blocked while it runs,
 * flags and the restorer glibc fills in.
 */
public final class SigAction extends NativeStruct {

    static final int SA_HANDLER = 0;
    static final int SA_MASK = 8;
    static final int SA_FLAGS = 136;
    static final int SA_RESTORER = 144;
    static final int SIZEOF = 152;
    public static final StructLayout LAYOUT = StructLayout.of("signal.h", "sigaction", SIZEOF)
            .field("sa_handler", SA_HANDLER, 8)
            .field("sa_mask", SA_MASK, 128)
            .field("sa_flags", SA_FLAGS, 4)
            .field("sa_restorer", SA_RESTORER, 8)
            .build();

    public SigAction() {
        super(SIZEOF);
    }

    /** A handler at native address {@code handler}, no signals blocked, {@code flags}. */
    public SigAction set(long handler, int flags) {
        clear();
        putU64(SA_HANDLER, handler);
        putU32(SA_FLAGS, flags);
        return this;
    }

    public long handler() {
        return u64(SA_HANDLER);
    }
}
