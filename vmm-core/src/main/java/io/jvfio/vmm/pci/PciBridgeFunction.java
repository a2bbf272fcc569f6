package io.jvfio.vmm.pci;

/**
 * A PCI-to-PCI bridge function on bus 0 (a type 1 header, {@link PciRegs#PCI_HEADER_TYPE_BRIDGE}),
 * such as a PCI Express Root Port: the host bridge routes type 1 configuration cycles for its
 * secondary bus to the function behind it, and decodes that function's BARs only through the
 * bridge's windows ({@link PciBridgeWindows}). The bus numbers and windows are the bridge's standard
 * registers; this interface adds what a register does not say.
 */
public interface PciBridgeFunction extends PciFunction {

    /**
     * Whether the secondary bus is reachable now: false while a hotplug slot's power is off, when
     * the function behind it answers no configuration cycle and decodes nothing (a powered-off
     * device is not there for the guest).
     */
    default boolean secondaryPowered() {
        return true;
    }

    /**
     * The host bridge placed a function behind this bridge ({@code present}) or took it away;
     * {@code hotplugged}: while the machine runs (a hotplug event), rather than as it was built.
     */
    default void secondaryChanged(boolean present, boolean hotplugged) {
    }
}
