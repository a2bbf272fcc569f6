package io.jvfio.vmm.pcie;

import io.jvfio.vmm.migration.Migratable;
import io.jvfio.vmm.migration.MigrationException;
import io.jvfio.vmm.migration.SavedState;
import io.jvfio.vmm.pci.MsiSignal;
import io.jvfio.vmm.pci.PciBar;
import io.jvfio.vmm.pci.PciBridgeFunction;
import io.jvfio.vmm.pci.PciConfigSpace;
import io.jvfio.vmm.pci.PciRegs;

import java.util.List;

import static io.jvfio.vmm.pci.PciRegs.PCI_BRIDGE_CONTROL;
import static io.jvfio.vmm.pci.PciRegs.PCI_BRIDGE_CTL_BUS_RESET;
import static io.jvfio.vmm.pci.PciRegs.PCI_BRIDGE_CTL_ISA;
import static io.jvfio.vmm.pci.PciRegs.PCI_BRIDGE_CTL_MASTER_ABORT;
import static io.jvfio.vmm.pci.PciRegs.PCI_BRIDGE_CTL_PARITY;
import static io.jvfio.vmm.pci.PciRegs.PCI_BRIDGE_CTL_SERR;
import static io.jvfio.vmm.pci.PciRegs.PCI_BRIDGE_CTL_VGA;
import static io.jvfio.vmm.pci.PciRegs.PCI_CAP_ID_EXP;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MASTER;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_DEVCTL;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_FLAGS;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_FLAGS_SLOT;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_LNKCAP;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_LNKCAP2;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_LNKCAP_DLLLARC;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_LNKCAP_SLS_2_5GB;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_LNKCTL2;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_LNKSTA;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_LNKSTA_CLS_2_5GB;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_LNKSTA_NLW_X1;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_RTCTL;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_TYPE_ROOT_PORT;
import static io.jvfio.vmm.pci.PciRegs.PCI_HEADER_TYPE;
import static io.jvfio.vmm.pci.PciRegs.PCI_HEADER_TYPE_BRIDGE;
import static io.jvfio.vmm.pci.PciRegs.PCI_IO_BASE;
import static io.jvfio.vmm.pci.PciRegs.PCI_MEMORY_BASE;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_ADDRESS_HI;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_ADDRESS_LO;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_DATA_64;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_FLAGS;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_FLAGS_ENABLE;
import static io.jvfio.vmm.pci.PciRegs.PCI_PREF_BASE_UPPER32;
import static io.jvfio.vmm.pci.PciRegs.PCI_PREF_LIMIT_UPPER32;
import static io.jvfio.vmm.pci.PciRegs.PCI_PREF_MEMORY_BASE;
import static io.jvfio.vmm.pci.PciRegs.PCI_PREF_MEMORY_LIMIT;
import static io.jvfio.vmm.pci.PciRegs.PCI_PREF_RANGE_TYPE_64;
import static io.jvfio.vmm.pci.PciRegs.PCI_PRIMARY_BUS;
import static io.jvfio.vmm.pci.PciRegs.PCI_SEC_STATUS;

/**
 * A PCI Express Root Port ({@code -device pcie-root-port,id=rp1,chassis=1,slot=1}) with a native
 * hotplug slot: a PCI-to-PCI bridge function on bus 0 whose link has one device (device 0 of its
 * secondary bus), which can be added and removed while the guest runs.
 *
 * <p>What the guest sees, all standard registers (so a guest driver needs nothing jvfio-specific):
 * <ul>
 * <li>Vendor 1b36, device 000c, class 0604 (PCI-to-PCI bridge), header type 1, as QEMU's
 *     {@code pcie-root-port}. Type 1 header: primary, secondary and subordinate bus numbers (all
 *     writable, 0 after reset: the guest numbers the buses); I/O base/limit (16-bit I/O, 4 KiB
 *     granules); memory base/limit (1 MiB granules); prefetchable base/limit with the upper 32 bits
 *     (64-bit); bridge control (parity, SERR, ISA, VGA, master abort, secondary bus reset bits
 *     writable; secondary bus reset and VGA/ISA have no effect). The function behind decodes its BARs
 *     only in these windows and only while the port's Memory Space / I/O Space enables are on.</li>
 * <li>Capabilities at 0x40: the PCI Express capability (version 2, Root Port, slot implemented; Link
 *     Capabilities 2.5 GT/s x1 with Data Link Layer Link Active Reporting Capable; Link Status DLLLA
 *     while a device is present; Slot Capabilities/Control/Status as {@link PcieSlot} describes, the
 *     Physical Slot Number being {@code slot=}), then MSI at 0x7c (64-bit address, one vector, no
 *     per-vector mask), which carries the hotplug interrupt. The port sends it only with MSI enabled and Bus
 *     Master Enable set in its command register (as a real port, and QEMU); no INTx (interrupt pin 0).
 *     The interrupt message number in the PCI Express Capabilities register is 0.</li>
 * <li>A slot with no device starts powered off (Power Controller Control = 1, power indicator off);
 *     one whose device was given at start ({@code -device ...,bus=rp1}) starts powered, indicator on,
 *     presence and link up, with no event pending. While the power is off the device behind answers
 *     no configuration cycle (all-ones) and decodes nothing: the guest powers the slot on
 *     (PCC = 0) before it enumerates.</li>
 * </ul>
 *
 * <p>What the guest must program, as on any PCI-to-PCI bridge: the secondary and subordinate bus
 * numbers (any bus 1-255; configuration cycles reach the device through port 0xCF8's bus field or the
 * ECAM window, 256 MiB at {@code PciHostBridge.DEFAULT_ECAM_BASE}, 0xB0000000-0xBFFFFFFF, buses
 * 0-255), then the windows that hold the device's BARs (anywhere outside RAM, the ECAM window and
 * 0xFEC00000-0xFEEFFFFF), and the port's command register (Memory Space, and Bus Master for the
 * hotplug MSI).
 *
 * <p>It migrates ({@link Migratable}): its whole configuration space (bus numbers, windows, command,
 * bridge control, the PCI Express capability with Slot Control/Status and Link Status, the MSI
 * capability) and the slot's interrupt condition, so the destination's port routes configuration
 * cycles and decodes the windows as the source's did (the host bridge places the BARs behind it once
 * everything is restored, {@link io.jvfio.vmm.pci.PciHostBridge#restore}), and its hotplug MSI goes
 * where the guest aimed it. What is behind the port migrates as its own device; the destination must
 * have one behind the port exactly when the source had (from its command line, as QEMU's does).
 *
 * <p>A slot with an unplug pending (the attention button pressed, the guest not done yet) migrates as
 * it is: the button's status bit travels, and the guest answers it on the destination, whose port then
 * takes the device away there. This is QEMU's behaviour too: it refuses {@code device_del} and {@code
 * device_add} while a migration runs ("device_del not allowed while migrating", qdev-monitor.c), but a
 * request made before does not block {@code migrate}. Power changes are no transition to wait for here:
 * each takes effect within the guest's configuration write, which ends before its vCPU stops.
 */
public final class PcieRootPort implements PciBridgeFunction, Migratable {

    /** Red Hat's PCI IDs for QEMU's generic root port. */
    public static final int VENDOR = 0x1b36;
    public static final int DEVICE = 0x000c;
    public static final int CLASS_PCI_BRIDGE = 0x060400;
    /** Where the PCI Express capability is; the MSI capability follows it. */
    public static final int EXP_CAP = 0x40;
    /** Where the MSI capability is (the capability list says so too). */
    public static final int MSI_CAP = 0x7c;
    /** The PCI Express capability's length (version 2, with the slot registers). */
    static final int EXP_CAP_SIZE = 0x3c;
    /** The kind and version of {@link #snapshot}'s format. */
    static final String STATE_KIND = "pcie-root-port";
    static final int STATE_VERSION = 1;

    private final String name;
    private final int chassis;
    private final int physicalSlot;
    private final MsiSignal msi;
    private final PcieHotplugHandler handler;
    private PciConfigSpace config;
    private PcieSlot slot;
    private int msiCap;
    private boolean present;

    /**
     * A root port named {@code name} (its id, for messages), in {@code chassis} with physical slot
     * number {@code physicalSlot}; its hotplug interrupt goes through {@code msi}, and {@code handler}
     * is told when the guest turns the slot off with a device in it.
     */
    public PcieRootPort(String name, int chassis, int physicalSlot, MsiSignal msi, PcieHotplugHandler handler) {
        if (physicalSlot < 0 || physicalSlot > 0x1FFF) {
            throw new IllegalArgumentException("a physical slot number is 13 bits, not " + physicalSlot);
        }
        this.name = name;
        this.chassis = chassis;
        this.physicalSlot = physicalSlot;
        this.msi = msi;
        this.handler = handler;
        build();
    }

    private void build() {
        config = new PciConfigSpace(PciRegs.PCI_CFG_SPACE_EXP_SIZE).identity(VENDOR, DEVICE, 0, CLASS_PCI_BRIDGE);
        config.set(PCI_HEADER_TYPE, 1, PCI_HEADER_TYPE_BRIDGE);
        config.setWritable(PCI_PRIMARY_BUS, 4, 0xFFFF_FFFFL); // primary, secondary, subordinate, latency timer
        config.setWritable(PCI_IO_BASE, 2, 0xF0F0);
        config.setWriteOneToClear(PCI_SEC_STATUS, 2, 0xF900); // the secondary side's error bits
        config.setWritable(PCI_MEMORY_BASE, 4, 0xFFF0_FFF0L);
        config.set(PCI_PREF_MEMORY_BASE, 2, PCI_PREF_RANGE_TYPE_64);
        config.set(PCI_PREF_MEMORY_LIMIT, 2, PCI_PREF_RANGE_TYPE_64);
        config.setWritable(PCI_PREF_MEMORY_BASE, 4, 0xFFF0_FFF0L);
        config.setWritable(PCI_PREF_BASE_UPPER32, 4, 0xFFFF_FFFFL);
        config.setWritable(PCI_PREF_LIMIT_UPPER32, 4, 0xFFFF_FFFFL);
        config.setWritable(PCI_BRIDGE_CONTROL, 2, PCI_BRIDGE_CTL_PARITY | PCI_BRIDGE_CTL_SERR | PCI_BRIDGE_CTL_ISA
                | PCI_BRIDGE_CTL_VGA | PCI_BRIDGE_CTL_MASTER_ABORT | PCI_BRIDGE_CTL_BUS_RESET);
        // A window is closed until the guest opens it: base above limit, as after a reset on hardware.
        config.set(PCI_IO_BASE, 1, 0xF0);
        config.set(PCI_MEMORY_BASE, 2, 0xFFF0);
        config.set(PCI_PREF_MEMORY_BASE, 2, 0xFFF0 | PCI_PREF_RANGE_TYPE_64);

        int cap = config.addCapability(PCI_CAP_ID_EXP, EXP_CAP_SIZE);
        assert cap == EXP_CAP;
        config.set(cap + PCI_EXP_FLAGS, 2, 2 | PCI_EXP_TYPE_ROOT_PORT << 4 | PCI_EXP_FLAGS_SLOT);
        config.setWritable(cap + PCI_EXP_DEVCTL, 2, 0x00FF);          // error reporting, payload and the like
        config.set(cap + PCI_EXP_LNKCAP, 4, PCI_EXP_LNKCAP_SLS_2_5GB | 1 << 4 | PCI_EXP_LNKCAP_DLLLARC);
        config.set(cap + PCI_EXP_LNKSTA, 2, PCI_EXP_LNKSTA_CLS_2_5GB | PCI_EXP_LNKSTA_NLW_X1);
        config.setWritable(cap + PciRegs.PCI_EXP_LNKCTL, 2, 0x00C3);   // ASPM, common clock, extended synch
        config.setWritable(cap + PCI_EXP_RTCTL, 2, 0x000F);            // system error and PME enables
        config.set(cap + PCI_EXP_LNKCAP2, 4, 1 << 1);                 // supported speeds: 2.5 GT/s
        config.set(cap + PCI_EXP_LNKCTL2, 2, 1);                      // target speed 2.5 GT/s
        slot = new PcieSlot(config, cap, physicalSlot, new PcieSlot.Port() {
            @Override
            public void interrupt() {
                sendMsi();
            }

            @Override
            public void poweredOff() {
                present = false;
                handler.slotPoweredOff(PcieRootPort.this);
            }
        });
        slot.reset(present);
        msiCap = config.addMsi(true, false, 0);
        assert msiCap == MSI_CAP;
    }

    /** The chassis number given ({@code chassis=}). */
    public int chassis() {
        return chassis;
    }

    /** The physical slot number ({@code slot=}), as Slot Capabilities reports it. */
    public int physicalSlot() {
        return physicalSlot;
    }

    /**
     * Presses the slot's attention button: the management layer asks for the device to go (QEMU's
     * {@code device_del} on a PCI Express slot); the guest answers by turning the slot off.
     */
    public synchronized void pressAttentionButton() {
        slot.pressAttentionButton();
    }

    /** Slot Control and Slot Status, as the guest would read them (for tests and diagnostics). */
    public synchronized int slotControl() {
        return slot.control();
    }

    private void sendMsi() {
        int flags = (int) config.raw(msiCap + PCI_MSI_FLAGS, 2);
        if ((flags & PCI_MSI_FLAGS_ENABLE) == 0 || (config.command() & PCI_COMMAND_MASTER) == 0) {
            return; // no MSI and no INTx: the guest polls Slot Status
        }
        long address = config.raw(msiCap + PCI_MSI_ADDRESS_LO, 4) | config.raw(msiCap + PCI_MSI_ADDRESS_HI, 4) << 32;
        msi.send(address, (int) config.raw(msiCap + PCI_MSI_DATA_64, 2));
    }

    @Override
    public String name() {
        return "pcie-root-port " + name;
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
        int oldControl = slot.control();
        config.write(offset, size, Integer.toUnsignedLong(value));
        slot.written(offset, size, oldControl);
    }

    @Override
    public synchronized boolean secondaryPowered() {
        return slot.powered();
    }

    @Override
    public synchronized void secondaryChanged(boolean nowPresent, boolean hotplugged) {
        present = nowPresent;
        if (nowPresent) {
            slot.plugged(hotplugged);
        }
    }

    @Override
    public List<PciBar> bars() {
        return List.of();
    }

    @Override
    public void mapBar(PciBar bar, long address) {
        throw new IllegalStateException(name() + " has no BARs");
    }

    @Override
    public void unmapBar(PciBar bar) {
        throw new IllegalStateException(name() + " has no BARs");
    }

    @Override
    public synchronized void reset() {
        build();
    }

    // ---- migration ----

    /** The kind, chassis and physical slot number (the guest read it in Slot Capabilities): the destination's must be the same. */
    @Override
    public String stateId() {
        return "pcie-root-port chassis " + chassis + " slot " + physicalSlot;
    }

    @Override
    public synchronized byte[] snapshot() {
        return SavedState.writer(STATE_KIND, STATE_VERSION).bytes(config.contents()).bool(present)
                .bool(slot.interruptCondition()).toByteArray();
    }

    /**
     * Loads the configuration space and the slot's interrupt condition; sends nothing (an event the
     * source signalled is in Slot Status; one it had not yet signalled was not there). Refused if the
     * source's slot held a device and this one holds none, or the other way round.
     */
    @Override
    public synchronized void restore(byte[] state) {
        SavedState.Reader in = SavedState.read(state, STATE_KIND, STATE_VERSION);
        byte[] bytes = in.bytes(config.size(), "configuration space");
        boolean sourcePresent = in.bool();
        boolean condition = in.bool();
        in.end();
        if (sourcePresent != present) {
            throw new MigrationException(name() + ": the source's slot " + (sourcePresent ? "holds a device" : "is empty")
                    + " and this one " + (present ? "holds one" : "is empty") + ": start the destination with the "
                    + "source's devices, " + (sourcePresent ? "one" : "none") + " with bus=" + name + " (hot-added and "
                    + "removed ones as they are now)");
        }
        config.setContents(bytes);
        slot.restoreInterruptCondition(condition);
    }

    @Override
    public String toString() {
        return name();
    }
}
