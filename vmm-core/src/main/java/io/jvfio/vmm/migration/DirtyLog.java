package io.jvfio.vmm.migration;

/**
 * Guest pages written since logging started or since the last {@link #collect}: by the vCPUs (KVM's
 * dirty log), by a device's DMA (VFIO's dirty page tracking, vfio-user's DMA logging), or by the
 * VMM itself. Addresses are guest-physical.
 */
public interface DirtyLog {

    /** Starts logging; every page counts as clean from here on. */
    void start();

    /** Reports each page written since {@link #start} or the previous collect, and clears them. */
    void collect(DirtyPages into);

    /** Stops logging (idempotent); nothing is reported after it. */
    void stop();
}
