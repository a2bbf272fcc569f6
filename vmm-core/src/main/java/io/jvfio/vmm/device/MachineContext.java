package io.jvfio.vmm.device;

import io.jvfio.vmm.bus.AddressSpace;

import java.util.function.Supplier;

/**
 * What the machine offers a {@link DeviceDriver} creating a device, in vmm-core's terms only: the
 * address space, services looked up by type (the composition root registers e.g. the guest memory
 * the device may DMA to and the interrupt router its interrupts go through; vmm-core does not know
 * their classes), resources shared by the devices of one VM (e.g. the one kernel VFIO container),
 * and a place to hand what must be closed with the machine.
 */
public interface MachineContext {

    /** The guest's port and MMIO buses, where the device's BARs decode. */
    AddressSpace space();

    /**
     * The service of type {@code service} the machine registered; throws an
     * {@link IllegalStateException} that names the service if it has none.
     */
    <T> T require(Class<T> service);

    /**
     * The VM's one instance of {@code key}, made by {@code make} the first time a device asks for
     * it; closed (if it is {@link AutoCloseable}) after every device that was created after it.
     */
    <T> T shared(Class<T> key, Supplier<? extends T> make);

    /**
     * Closes {@code resource} when the machine closes, in the reverse order of registration (so a
     * device model registered after its back end is closed before it).
     */
    void onClose(AutoCloseable resource);
}
