/**
 * Guest RAM: a guest physical address space of RAM regions, each backed by a memfd (or a hugetlbfs
 * file) and mmap'd shared once, so the same pages can be handed to a device process and mapped into
 * an IOMMU. Listeners ({@link io.jvfio.memory.DmaMappingListener}: VFIO Type1, vfio-user DMA_MAP, KVM
 * slots) follow the memory map as regions come and go. Depends on vmm-core only; start at
 * {@link io.jvfio.memory.GuestMemory}.
 *
 * <h2>The safety contract of DMA-visible memory</h2>
 * Guest RAM is shared: vCPUs, devices doing DMA (through an IOMMU or a vfio-user server's own mapping
 * of the memfd) and jvfio's threads may read and write the same bytes at the same time, and nothing in
 * this package can stop them. So, for every accessor of {@link io.jvfio.memory.GuestRam}, the snapshot
 * of the map that {@link io.jvfio.memory.GuestMemory#ram()} returns:
 * <ul>
 * <li>A caller takes the snapshot for each access, or once for each device operation (one DMA
 * transfer, one descriptor), never across operations: taking it is one volatile read, which sees the
 * regions as they are now and keeps the JIT from reusing a value read by an earlier call.</li>
 * <li>Every access reads guest memory afresh: nothing here caches guest memory contents, and a caller
 * must not either (read a descriptor once, check it, then use the copy it checked, never re-read).</li>
 * <li>A multi-byte access is a plain load or store with no atomicity or ordering promised: a value a
 * device or vCPU writes at the same time may be read torn, and one that straddles a 1 GiB chunk of a
 * region is copied a byte at a time. Where the guest's protocol needs ordering (a descriptor before
 * its doorbell), the caller fences ({@link java.lang.invoke.VarHandle#fullFence()}).</li>
 * <li>An access outside guest RAM, or crossing the end of a region, throws a
 * {@link io.jvfio.memory.GuestMemoryException}; it never reaches other process memory.</li>
 * <li>A region being removed is unmapped from every listener (IOMMU, KVM slot) first, then leaves the
 * map; once its backend backs no region, its pages are replaced by zero pages. An access that raced
 * the removal (through a snapshot taken before it), or a {@code slice} kept past it, reads zeros and
 * its writes are lost rather than touching freed memory; an access through a later snapshot throws.
 * Only {@code removeRegionAndRelease} and {@code close} give the address range back, after every user
 * of it has stopped.</li>
 * </ul>
 */
package io.jvfio.memory;
