/**
 * Guest RAM on memfd and mmap, shared with devices and mapped into IOMMUs as the memory map
 * changes, and its KVM memory slots.
 */
module io.jvfio.memory {
    requires transitive io.jvfio.vmm;

    exports io.jvfio.memory;
    exports io.jvfio.kvm.memory;
}
