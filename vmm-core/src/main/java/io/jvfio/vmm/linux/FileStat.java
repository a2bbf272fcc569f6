package io.jvfio.vmm.linux;

import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * What {@code fstat} says of an fd that jvfio reads: the file type and size (to check an fd a peer
 * sent before mapping it).
 *
 * @param mode {@code st_mode}: the file type and permission bits
 * @param size {@code st_size}: the size in bytes
 */
public record FileStat(int mode, long size) {

    /** {@code struct stat} (sys/stat.h, x86_64): the fields read here. */
    static final int ST_MODE = 24;
    static final int ST_SIZE = 48;
    static final int SIZEOF = 144;
    static final StructLayout LAYOUT = StructLayout.of("sys/stat.h", "stat", SIZEOF)
            .field("st_mode", ST_MODE, 4)
            .field("st_size", ST_SIZE, 8)
            .build();

    /** The file type bits of st_mode and the type of a regular file (what a memfd is). */
    static final int S_IFMT = 0170000;
    static final int S_IFREG = 0100000;

    /** fstat of {@code fd}. */
    public static FileStat of(OwnedFd fd) {
        Stat s = new Stat();
        if (LibC.fstat(fd.get(), s.address()) < 0) {
            throw new SyscallException("fstat", fd.name(), LibC.errno());
        }
        return new FileStat(s.mode(), s.size());
    }

    public boolean isRegularFile() {
        return (mode & S_IFMT) == S_IFREG;
    }

    /** The {@code struct stat} that fstat fills. */
    private static final class Stat extends NativeStruct {
        Stat() {
            super(SIZEOF);
        }

        int mode() {
            return u32(ST_MODE);
        }

        long size() {
            return u64(ST_SIZE);
        }
    }
}
