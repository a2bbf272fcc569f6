/**
 * Guest RAM on memfd and mmap, shared with devices and mapped into IOMMUs as the memory map
 * changes, and its KVM memory slots.
 */
module io.jvfio.memory {
    requires transitive io.jvfio.vmm;
    // sun.misc.Unsafe, for GuestRam's value loads and stores only: UnsafeValues says why.
    requires jdk.unsupported;

    exports io.jvfio.memory;
    exports io.jvfio.kvm.memory;
}
