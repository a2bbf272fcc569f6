package io.jvfio.memory;

/**
 * Follows guest RAM for DMA: VFIO Type1 ({@code VFIO_IOMMU_MAP_DMA}), a vfio-user client
 * ({@code DMA_MAP} with the region's fd) and KVM memory slots implement it.
 *
 * <p>A listener added to a {@link GuestMemory} first gets every existing region mapped, in address
 * order; removed, it gets every region unmapped, in reverse order. When a region goes away, every
 * listener unmaps it <em>before</em> its memory is released, so a device can never DMA into freed
 * pages.
 *
 * <p>While a region is mapped a device may change it at any moment: Java code reaches it as the
 * package's safety contract ({@link io.jvfio.memory}) says.
 */
public interface DmaMappingListener {

    /** {@code mapping} is now guest RAM. Throwing refuses it: the region is then not added. */
    void map(DmaMapping mapping);

    /** {@code mapping} is about to stop being guest RAM; its memory is still valid during this call. */
    void unmap(DmaMapping mapping);
}
