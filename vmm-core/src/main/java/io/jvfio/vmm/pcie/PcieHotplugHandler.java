package io.jvfio.vmm.pcie;

/**
 * The machine's side of a PCI Express hotplug slot, a service it provides to the root ports it
 * creates ({@code MachineContext.require(PcieHotplugHandler.class)}): told when the guest has turned
 * a slot off with a device in it, so that the machine takes the device off the bus, releases it and
 * reports it gone ({@code DEVICE_DELETED}). Called on the thread of the guest's configuration write,
 * under the host bridge's lock: what takes other locks goes through
 * {@code PciHostBridge.afterConfigCycle}.
 */
@FunctionalInterface
public interface PcieHotplugHandler {

    /** The guest turned {@code port}'s slot off (power controller and power indicator off) with a device in it. */
    void slotPoweredOff(PcieRootPort port);
}
