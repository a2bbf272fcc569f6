package io.jvfio.vfio;

/**
 * How a device behind a back end addresses guest RAM: the DMA address (the IOVA, Linux's
 * {@code dma_addr_t}) a driver must program into the device for a range of guest physical memory.
 * Through an IOMMU (VFIO Type1, iommufd) or a vfio-user peer, guest RAM is mapped at IOVA = guest
 * physical address, so the two are the same ({@link #GUEST_PHYSICAL}); without an IOMMU (VFIO's
 * no-IOMMU mode) the device sees host physical memory, and the address is that of the pinned page
 * behind the range, as DPDK's IOVA-as-PA mode has it.
 */
public interface DmaAddressing {

    /**
     * The DMA address of the {@code size} bytes of guest RAM at guest physical address {@code gpa}, which
     * the device reaches as one contiguous range; a range the device cannot reach that way (outside
     * guest RAM, or across physically discontiguous pages) is a {@link VfioException} that says why.
     */
    long dmaAddress(long gpa, long size);

    /** The rule, in words, for a report: e.g. "IOVA = guest physical address". */
    String describe();

    /** IOVA = guest physical address: what an IOMMU or a vfio-user peer's DMA windows give. */
    DmaAddressing GUEST_PHYSICAL = new DmaAddressing() {
        @Override
        public long dmaAddress(long gpa, long size) {
            return gpa;
        }

        @Override
        public String describe() {
            return "IOVA = guest physical address";
        }

        @Override
        public String toString() {
            return describe();
        }
    };
}
