package io.jvfio.qmp;

import io.jvfio.irq.LocalApic;
import io.jvfio.machine.VirtualMachine;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.pci.PciHostBridge;
import io.jvfio.vmm.pcie.PcieRootPort;

import static io.jvfio.vmm.pci.PciRegs.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The guest OS's side of PCI Express native hotplug, played by a test through configuration cycles on
 * a machine without KVM ({@code -accel none}): a port driver bringing the root port up (bus numbers,
 * the hotplug MSI, the slot's events enabled), taking the hotplug interrupt at the virtual local APIC,
 * powering the slot on and off, and enumerating and placing the device behind the port, as Linux's
 * pciehp and PCI core do it, with standard registers only.
 */
final class HotplugGuest {

    static final int SECONDARY = 1;
    static final int VECTOR = 0x41;
    /** The port's memory window, where the device's BAR0 goes: 1 MiB. */
    static final long WINDOW = 0xC000_0000L;

    private final VirtualMachine vm;
    private final int port;
    private int control;

    HotplugGuest(VirtualMachine vm, String portId) {
        this.vm = vm;
        this.port = vm.devices().find(portId).at().devfn();
    }

    int read(int bus, int devfn, int offset, int size) {
        AddressSpace s = vm.space();
        s.out(PciHostBridge.CONFIG_ADDRESS, 4, 0x8000_0000L | bus << 16 | devfn << 8 | (offset & 0xFC));
        return (int) s.in(PciHostBridge.CONFIG_DATA + (offset & 3), size);
    }

    void write(int bus, int devfn, int offset, int size, int value) {
        AddressSpace s = vm.space();
        s.out(PciHostBridge.CONFIG_ADDRESS, 4, 0x8000_0000L | bus << 16 | devfn << 8 | (offset & 0xFC));
        s.out(PciHostBridge.CONFIG_DATA + (offset & 3), size, Integer.toUnsignedLong(value));
    }

    int portRead(int offset, int size) {
        return read(0, port, offset, size);
    }

    void portWrite(int offset, int size, int value) {
        write(0, port, offset, size, value);
    }

    int slot(int reg) {
        return portRead(PcieRootPort.EXP_CAP + reg, 2);
    }

    void setSlot(int reg, int value) {
        portWrite(PcieRootPort.EXP_CAP + reg, 2, value);
    }

    /** The interrupt handler: the hotplug vector was raised at the local APIC; it is taken and ended. */
    void takeInterrupt() {
        LocalApic apic = vm.apics().apic(0);
        assertTrue(apic.isPending(VECTOR), "the hotplug MSI reached the local APIC");
        assertEquals(VECTOR, apic.acknowledge());
        apic.endOfInterrupt();
    }

    /** Clears the Slot Status events it has seen (write one to clear). */
    void clear(int events) {
        setSlot(PCI_EXP_SLTSTA, events);
    }

    /** The port driver at boot: bus numbers, the hotplug MSI, the slot's events and interrupt enabled. */
    void bringUpPort() {
        portWrite(PCI_PRIMARY_BUS, 4, SECONDARY << 16 | SECONDARY << 8);
        int msi = portRead(PCI_CAPABILITY_LIST, 1);
        while (portRead(msi, 1) != PCI_CAP_ID_MSI) {
            msi = portRead(msi + 1, 1);
        }
        portWrite(msi + PCI_MSI_ADDRESS_LO, 4, 0xFEE0_0000);
        portWrite(msi + PCI_MSI_ADDRESS_HI, 4, 0);
        portWrite(msi + PCI_MSI_DATA_64, 2, VECTOR);
        portWrite(msi + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE);
        portWrite(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
        control = slot(PCI_EXP_SLTCTL) | PCI_EXP_SLTCTL_ABPE | PCI_EXP_SLTCTL_PDCE | PCI_EXP_SLTCTL_CCIE
                | PCI_EXP_SLTCTL_HPIE | PCI_EXP_SLTCTL_DLLSCE;
        setSlot(PCI_EXP_SLTCTL, control);
        takeInterrupt(); // command completed
        clear(PCI_EXP_SLTSTA_CC);
    }

    /** Power on with the power indicator on; the command completes with its interrupt. */
    void powerOn() {
        command(control & ~PCI_EXP_SLTCTL_PCC & ~PCI_EXP_SLTCTL_PIC | PCI_EXP_SLTCTL_PWR_IND_ON);
    }

    /** Power off with the power indicator off: the slot lets the device go. */
    void powerOff() {
        command(control & ~PCI_EXP_SLTCTL_PIC | PCI_EXP_SLTCTL_PWR_IND_OFF | PCI_EXP_SLTCTL_PWR_OFF);
    }

    private void command(int value) {
        control = value;
        setSlot(PCI_EXP_SLTCTL, value);
    }

    /**
     * Enumerates device 0 behind the port and places its BAR0 (1 MiB) in the port's window, memory
     * decode and bus mastering on; returns its vendor and device IDs.
     */
    int enumerateAndPlaceBar0() {
        int ids = read(SECONDARY, 0, PCI_VENDOR_ID, 4);
        write(SECONDARY, 0, PCI_BASE_ADDRESS_0, 4, -1);
        assertEquals(0xFFF0_0000, read(SECONDARY, 0, PCI_BASE_ADDRESS_0, 4), "BAR0: 1 MiB");
        portWrite(PCI_MEMORY_BASE, 4, (int) (WINDOW >>> 16) | (int) (WINDOW >>> 16) << 16);
        write(SECONDARY, 0, PCI_BASE_ADDRESS_0, 4, (int) WINDOW);
        write(SECONDARY, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
        return ids;
    }

    /** Quiesces the device: decode and bus mastering off. */
    void quiesce() {
        write(SECONDARY, 0, PCI_COMMAND, 2, 0);
    }
}
