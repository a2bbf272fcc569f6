package io.jvfio.vmm.migration;

/** Where a {@link DirtyLog} reports what was written: a run of guest-physical bytes, page-aligned. */
@FunctionalInterface
public interface DirtyPages {

    /** The pages covering {@code [address, address + length)} were written. */
    void dirty(long address, long length);
}
