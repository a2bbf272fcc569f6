package io.jvfio.vmm.pci;

/**
 * How an emulated function's message-signalled interrupt reaches the interrupt controller: the
 * memory write of {@code data} to {@code address} that MSI is, handed to whatever the machine
 * delivers MSIs with (KVM_SIGNAL_MSI, or the virtual local APICs). A service the machine provides
 * ({@code MachineContext.require(MsiSignal.class)}), so that vmm-core's functions need not know the
 * interrupt routing module, which depends on vmm-core.
 */
@FunctionalInterface
public interface MsiSignal {

    /** Sends one message; a message the controller cannot take is dropped, as on a real bus. */
    void send(long address, int data);
}
