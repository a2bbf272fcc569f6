package io.jvfio.vfio.devices;

import io.jvfio.vfio.emulated.RegisterDevice;
import io.jvfio.vmm.pci.PciConfigSpace;

/**
 * A device whose only BAR is smaller than a page: 1234:10f1, class 0x0880, BAR0 a 256-byte 32-bit
 * memory BAR that is not mmap-able (every access is a region read or write), INTA but no register
 * that raises it, no MSI or MSI-X. Its 32-bit registers: 0x00 id, reads {@link #ID_VALUE} ("TINY");
 * 0x04 scratch, reads back what was written.
 */
public final class TinyDevice extends RegisterDevice {

    public static final int VENDOR_ID = 0x1234;
    public static final int DEVICE_ID = 0x10f1;
    public static final int CLASS_CODE = 0x088000;
    public static final int BAR0_SIZE = 256;

    public static final int ID = 0x00;
    public static final int SCRATCH = 0x04;
    public static final int ID_VALUE = 0x54494e59;

    private int scratch;

    public TinyDevice() {
        super(BAR0_SIZE, true);
    }

    @Override
    protected PciConfigSpace newConfig() {
        return standardConfig(VENDOR_ID, DEVICE_ID, CLASS_CODE, PciConfigSpace.BarType.MEMORY32);
    }

    @Override
    protected int readRegister(int offset) {
        return switch (offset) {
            case ID -> ID_VALUE;
            case SCRATCH -> scratch;
            default -> -1;
        };
    }

    @Override
    protected void writeRegister(int offset, int value) {
        if (offset == SCRATCH) {
            scratch = value;
        }
    }

    @Override
    protected void resetRegisters() {
        scratch = 0;
    }

    @Override
    public String toString() {
        return "tiny (1234:10f1, a 256-byte memory BAR0, INTx, no MSI)";
    }
}
