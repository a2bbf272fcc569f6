package io.jvfio.vmm.pci;

import io.jvfio.vmm.migration.Migratable;
import io.jvfio.vmm.migration.SavedState;

import java.util.List;

/**
 * Device 00.0 of the guest's PCI bus: the host bridge itself (Intel 440FX's IDs, as QEMU's {@code pc}
 * machine has it), so the guest finds a bridge where it looks first. No BARs, no interrupts.
 *
 * <p>It migrates ({@link Migratable}): its configuration space, of which the guest writes the command,
 * cache line size, latency timer and interrupt line registers and the status register's error bits.
 */
public final class HostBridgeFunction implements PciFunction, Migratable {

    public static final int VENDOR = 0x8086;
    public static final int DEVICE = 0x1237;
    public static final int CLASS_HOST_BRIDGE = 0x060000;
    /** The kind and version of {@link #snapshot}'s format. */
    static final String STATE_KIND = "host bridge function";
    static final int STATE_VERSION = 1;

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

    // ---- migration ----

    @Override
    public String stateId() {
        return String.format("host bridge %04x:%04x", VENDOR, DEVICE);
    }

    @Override
    public synchronized byte[] snapshot() {
        return SavedState.writer(STATE_KIND, STATE_VERSION).bytes(config.contents()).toByteArray();
    }

    @Override
    public synchronized void restore(byte[] state) {
        SavedState.Reader in = SavedState.read(state, STATE_KIND, STATE_VERSION);
        byte[] bytes = in.bytes(config.size(), "configuration space");
        in.end();
        config.setContents(bytes);
    }
}
