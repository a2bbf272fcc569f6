package io.jvfio.vmm.pci;

import java.util.List;

/**
 * Device 00.0 of the guest's PCI bus: the host bridge itself (Intel 440FX's IDs, as QEMU's {@code pc}
 * machine has it), so the guest finds a bridge where it looks first. No BARs, no interrupts.
 */
public final class HostBridgeFunction implements PciFunction {

    public static final int VENDOR = 0x8086;
    public static final int DEVICE = 0x1237;
    public static final int CLASS_HOST_BRIDGE = 0x060000;

    private PciConfigSpace config = newConfig();

    private static PciConfigSpace newConfig() {
        return new PciConfigSpace(PciRegs.PCI_CFG_SPACE_SIZE).identity(VENDOR, DEVICE, 0x02, CLASS_HOST_BRIDGE)
                .subsystem(0x1af4, 0x1100);
    }

    @Override
    public String name() {
        return "host bridge";
    }

    @Override
    public int configSize() {
        return config.size();
    }

    @Override
    public synchronized int readConfig(int offset, int size) {
        return (int) config.read(offset, size);
    }

    @Override
    public synchronized void writeConfig(int offset, int size, int value) {
        config.write(offset, size, Integer.toUnsignedLong(value));
    }

    @Override
    public List<PciBar> bars() {
        return List.of();
    }

    @Override
    public void mapBar(PciBar bar, long address) {
        throw new IllegalStateException("the host bridge has no BARs");
    }

    @Override
    public void unmapBar(PciBar bar) {
        throw new IllegalStateException("the host bridge has no BARs");
    }

    @Override
    public synchronized void reset() {
        config = newConfig();
    }
}
