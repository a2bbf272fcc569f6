/**
 * What a part of a machine offers to live migration, as cloud-hypervisor's {@code vm-migration}
 * traits and QEMU's save handlers divide it: a {@link io.jvfio.vmm.migration.Migratable} part (a
 * device, the vCPUs, the interrupt controllers) pauses, hands over its state as bytes while paused,
 * takes such bytes on the destination, and says what blocks it; a
 * {@link io.jvfio.vmm.migration.DirtyLog} reports the guest pages something wrote since it last
 * looked (KVM for the vCPUs, an IOMMU or a vfio-user server for a device's DMA), so that RAM pre-copy
 * sends only what changed; {@link io.jvfio.vmm.migration.SavedState} is the header (magic, kind, version)
 * and field coding a part's snapshot uses, so a state of another kind or version is refused by name.
 * Depends on nothing else of jvfio's; the launcher's migration stream
 * ({@code io.jvfio.migration}) drives it.
 */
package io.jvfio.vmm.migration;
