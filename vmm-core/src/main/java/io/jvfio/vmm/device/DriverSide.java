package io.jvfio.vmm.device;

/**
 * Who drives the machine's devices, a service the machine provides ({@link MachineContext#require}):
 * it decides what a DMA address given to a device means, and so which back ends a device may use.
 * A guest's drivers program a device with guest physical addresses, which only an IOMMU (or a
 * vfio-user peer's DMA windows) turns into this process's memory; a host-side driver in the VMM's own
 * process can program one with whatever address its back end says the device sees (the host physical
 * address of pinned RAM, without an IOMMU).
 */
public enum DriverSide {
    /** Guest code on vCPUs drives the devices: every DMA address it programs is a guest physical address. */
    GUEST,
    /** No vCPU: the VMM drives the devices from the host through the buses (the launcher's {@code -accel none}). */
    HOST
}
