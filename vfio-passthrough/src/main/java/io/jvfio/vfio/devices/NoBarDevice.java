package io.jvfio.vfio.devices;

import io.jvfio.vfio.emulated.RegisterDevice;
import io.jvfio.vmm.pci.PciConfigSpace;

/**
 * A function with nothing but its config space: 1234:10f2, class 0x0880, no BARs, no interrupt pin,
 * no capabilities. A driver can find and enable it, and has nothing else to drive.
 */
public final class NoBarDevice extends RegisterDevice {

    public static final int VENDOR_ID = 0x1234;
    public static final int DEVICE_ID = 0x10f2;
    public static final int CLASS_CODE = 0x088000;

    public NoBarDevice() {
        super(0, false);
    }

    @Override
    protected PciConfigSpace newConfig() {
        return standardConfig(VENDOR_ID, DEVICE_ID, CLASS_CODE, null);
    }

    @Override
    protected int readRegister(int offset) {
        throw new IllegalStateException("nobar has no BAR to read");
    }

    @Override
    protected void writeRegister(int offset, int value) {
        throw new IllegalStateException("nobar has no BAR to write");
    }

    @Override
    protected void resetRegisters() {
        // no registers
    }

    @Override
    public String toString() {
        return "nobar (1234:10f2, no BARs, no interrupt)";
    }
}
