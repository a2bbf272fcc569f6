/**
 * Guest RAM: a guest physical address space of RAM regions, each backed by a memfd (or a hugetlbfs
 * file) and mmap'd shared once, so the same pages can be handed to a device process and mapped into
 * an IOMMU. Listeners (VFIO Type1, vfio-user DMA_MAP) follow the memory map as regions come and go.
 */
package io.jvfio.memory;
