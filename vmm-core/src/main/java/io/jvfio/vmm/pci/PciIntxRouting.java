package io.jvfio.vmm.pci;

/**
 * How the board wires bus 0's INTx pins to the interrupt controller: the four lines INTA#-INTD# of
 * each slot are rotated by the slot number (the PCI-to-PCI bridge specification's swizzle, 9.1) onto
 * four IOAPIC inputs from GSI 16, the pins above the ISA interrupts, as QEMU's q35 and microvm
 * machines route PCI INTx. A BIOS reports the result in each function's interrupt line register.
 */
public final class PciIntxRouting {

    /** The first GSI PCI INTx lines use, and how many lines there are. */
    public static final int FIRST_GSI = 16;
    public static final int LINES = 4;

    private PciIntxRouting() {
    }

    /** The GSI that pin {@code pin} (1 = INTA# .. 4 = INTD#, the interrupt pin register) of slot {@code slot} reaches. */
    public static int gsi(int slot, int pin) {
        if (pin < 1 || pin > 4) {
            throw new IllegalArgumentException("an interrupt pin is 1 (INTA#) to 4 (INTD#), not " + pin);
        }
        return FIRST_GSI + (slot + pin - 1) % LINES;
    }
}
