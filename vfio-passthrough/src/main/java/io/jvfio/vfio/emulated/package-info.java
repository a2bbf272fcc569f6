/**
 * The API for writing a PCI device in Java: {@link io.jvfio.vfio.emulated.EmulatedDevice} (regions,
 * interrupt indexes, register accesses, DMA through the windows its client gave), with the MSI-X
 * table and PBA ({@link io.jvfio.vfio.emulated.MsixTable}) and a base for small register devices
 * ({@link io.jvfio.vfio.emulated.RegisterDevice}). Served over vfio-user or in-process, whose classes
 * its own never name; depends on {@code io.jvfio.vfio}, the protocol's errors and vmm-core's PCI.
 */
package io.jvfio.vfio.emulated;
