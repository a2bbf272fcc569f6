/**
 * The guest's address space outside RAM: MMIO and port-I/O {@link io.jvfio.vmm.bus.Bus}es of
 * {@link io.jvfio.vmm.bus.BusDevice}s (trapped accesses, sized by {@link io.jvfio.vmm.bus.AccessSize})
 * with host memory mapped directly on top ({@link io.jvfio.vmm.bus.DirectRegion}, e.g. an mmap'd BAR).
 * Depends on {@code io.jvfio.vmm.range}; start at {@link io.jvfio.vmm.bus.AddressSpace}.
 */
package io.jvfio.vmm.bus;
