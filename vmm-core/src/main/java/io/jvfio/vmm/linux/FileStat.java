package io.jvfio.vmm.linux;

import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct stat} (sys/stat.h, x86_64), filled by {@code fstat}: the fields jvfio reads, the file
 * type and size (to check an fd a peer sent before mapping it).
 */
public final class FileStat extends NativeStruct {

    static final int ST_MODE = 24;
    static final int ST_SIZE = 48;
    static final int SIZEOF = 144;
    public static final StructLayout LAYOUT = StructLayout.of("sys/stat.h", "stat", SIZEOF)
            .field("st_mode", ST_MODE, 4)
            .field("st_size", ST_SIZE, 8)
            .build();

    /** The file type bits of st_mode and the type of a regular file (what a memfd is). */
    static final int S_IFMT = 0170000;
    static final int S_IFREG = 0100000;

    private FileStat() {
        super(SIZEOF);
    }

    /** fstat of {@code fd}. */
    public static FileStat of(OwnedFd fd) {
        FileStat s = new FileStat();
        if (LibC.fstat(fd.get(), s.address()) < 0) {
            throw new SyscallException("fstat", fd.name(), LibC.errno());
        }
        return s;
    }

    public long size() {
        return u64(ST_SIZE);
    }

    public boolean isRegularFile() {
        return (u32(ST_MODE) & S_IFMT) == S_IFREG;
    }
}
