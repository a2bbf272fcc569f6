package io.jvfio.vfio.devices;

import io.jvfio.vfio.emulated.RegisterDevice;
import io.jvfio.vmm.pci.PciConfigSpace;
import io.jvfio.vmm.pci.PciRegs;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_INTX_IRQ_INDEX;

/**
 * A GPIO-like card, the kind of device that has only an I/O BAR and INTx (like many legacy and
 * libvfio-user devices): 1234:10f0, class 0x0880 (other system peripheral), BAR0 of 16 ports, INTA,
 * no MSI or MSI-X. Its 32-bit registers:
 * <ul>
 * <li>0x00 id, reads {@link #ID_VALUE} ("GPIO")</li>
 * <li>0x04 data latch, reads back what was written</li>
 * <li>0x08 interrupt status, bit 0 pending; writing 1 to a bit clears it, and with none left INTx is
 *     deasserted</li>
 * <li>0x0c raise: any nonzero value sets status bit 0 and asserts INTx, a level interrupt that stays
 *     asserted until the status is cleared</li>
 * </ul>
 * While asserted, config status bit 3 (interrupt status) is set, as PCI 3.0 section 6.2.3 says.
 */
public final class GpioDevice extends RegisterDevice {

    public static final int VENDOR_ID = 0x1234;
    public static final int DEVICE_ID = 0x10f0;
    public static final int CLASS_CODE = 0x088000;
    public static final int BAR0_SIZE = 16;

    public static final int ID = 0x00;
    public static final int DATA = 0x04;
    public static final int IRQ_STATUS = 0x08;
    public static final int IRQ_RAISE = 0x0c;
    public static final int ID_VALUE = 0x4750494f;
    public static final int IRQ_PENDING = 0x1;

    private int data;
    private int irqStatus;

    public GpioDevice() {
        super(BAR0_SIZE, true);
    }

    @Override
    protected PciConfigSpace newConfig() {
        return standardConfig(VENDOR_ID, DEVICE_ID, CLASS_CODE, PciConfigSpace.BarType.IO);
    }

    @Override
    protected int readRegister(int offset) {
        return switch (offset) {
            case ID -> ID_VALUE;
            case DATA -> data;
            case IRQ_STATUS -> irqStatus;
            default -> -1;
        };
    }

    @Override
    protected void writeRegister(int offset, int value) {
        switch (offset) {
            case DATA -> data = value;
            case IRQ_STATUS -> {
                irqStatus &= ~value;
                line();
            }
            case IRQ_RAISE -> {
                if (value != 0) {
                    irqStatus |= IRQ_PENDING;
                    line();
                }
            }
            default -> {
                // the id is read-only
            }
        }
    }

    /**
     * Drives INTx from the status, level-triggered: asserted (the trigger eventfd, which the client
     * resamples on EOI) while a status bit is set and INTx is not disabled in the command register.
     */
    private void line() {
        boolean asserted = irqStatus != 0;
        PciConfigSpace c = config();
        int status = (int) c.raw(PciRegs.PCI_STATUS, 2);
        c.set(PciRegs.PCI_STATUS, 2, asserted ? status | PciRegs.PCI_STATUS_INTERRUPT
                : status & ~PciRegs.PCI_STATUS_INTERRUPT);
        Context ctx = context();
        if (ctx == null) {
            return;
        }
        if (asserted && (c.command() & PciRegs.PCI_COMMAND_INTX_DISABLE) == 0) {
            ctx.raise(VFIO_PCI_INTX_IRQ_INDEX, 0);
        } else if (!asserted) {
            ctx.lower(VFIO_PCI_INTX_IRQ_INDEX, 0);
        }
    }

    @Override
    protected void resetRegisters() {
        data = 0;
        irqStatus = 0;
    }

    @Override
    public String toString() {
        return "gpio (1234:10f0, a 16-port I/O BAR0 and INTx, no MSI)";
    }
}
