package io.jvfio.vmm.pcie;

import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.bus.BusDevice;
import io.jvfio.vmm.pci.PciConfigSpace;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciHostBridge;
import io.jvfio.vmm.pci.TestFunction;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static io.jvfio.vmm.pci.PciRegs.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The root port as a guest drives it, by configuration cycles through the host bridge's port
 * 0xCF8/0xCFC and ECAM: its type 1 header and capabilities, bus numbers routing type 1 cycles to the
 * device behind it, the windows its BARs decode in, and the hotplug slot's registers, events and MSI.
 */
class PcieRootPortTest {

    private static final int SECONDARY = 3;
    private static final long MSI_ADDRESS = 0xFEE0_0000L;

    private final AddressSpace space = new AddressSpace();
    private final PciHostBridge bridge = new PciHostBridge(space, PciHostBridge.DEFAULT_ECAM_BASE);
    private final List<String> msis = new ArrayList<>();
    private final List<String> handled = new ArrayList<>();
    private final PcieRootPort port = new PcieRootPort("rp1", 1, 5, (a, d) -> msis.add(Long.toHexString(a) + ":"
            + Integer.toHexString(d)), p -> {
                handled.add("powered off " + p.name());
                bridge.afterConfigCycle(() -> handled.add("removed " + bridge.removeBehind(portAt()).name()));
            });
    private final PciDevFn at = bridge.add(new PciDevFn(2, 0), false, port, "pcie-root-port");

    private PciDevFn portAt() {
        return at;
    }

    private int read(int bus, int devfn, int offset, int size) {
        space.out(PciHostBridge.CONFIG_ADDRESS, 4, 0x8000_0000L | bus << 16 | devfn << 8 | (offset & 0xFC));
        return (int) space.in(PciHostBridge.CONFIG_DATA + (offset & 3), size);
    }

    private void write(int bus, int devfn, int offset, int size, int value) {
        space.out(PciHostBridge.CONFIG_ADDRESS, 4, 0x8000_0000L | bus << 16 | devfn << 8 | (offset & 0xFC));
        space.out(PciHostBridge.CONFIG_DATA + (offset & 3), size, Integer.toUnsignedLong(value));
    }

    private int portRead(int offset, int size) {
        return read(0, at.devfn(), offset, size);
    }

    private void portWrite(int offset, int size, int value) {
        write(0, at.devfn(), offset, size, value);
    }

    private int ecamRead(int bus, int devfn, int offset, int size) {
        return (int) space.read(PciHostBridge.DEFAULT_ECAM_BASE + ((long) bus << 20 | devfn << 12 | offset), size);
    }

    private int exp(int reg) {
        return PcieRootPort.EXP_CAP + reg;
    }

    private int msiCap() {
        int cap = portRead(PCI_CAPABILITY_LIST, 1);
        while (cap != 0 && portRead(cap, 1) != PCI_CAP_ID_MSI) {
            cap = portRead(cap + 1, 1);
        }
        return cap;
    }

    /** What a guest does to number the bus behind the port and have the hotplug MSI. */
    private void setUpAsGuest() {
        portWrite(PCI_PRIMARY_BUS, 4, SECONDARY << 16 | SECONDARY << 8);
        int msi = msiCap();
        portWrite(msi + PCI_MSI_ADDRESS_LO, 4, (int) MSI_ADDRESS);
        portWrite(msi + PCI_MSI_ADDRESS_HI, 4, 0);
        portWrite(msi + PCI_MSI_DATA_64, 2, 0x41);
        portWrite(msi + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE);
        portWrite(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    }

    @Test
    void headerAndCapabilitiesAreARootPortsWithAHotplugSlot() {
        assertEquals(PcieRootPort.DEVICE << 16 | PcieRootPort.VENDOR, portRead(PCI_VENDOR_ID, 4));
        assertEquals(0x0604, portRead(PCI_CLASS_DEVICE, 2));
        assertEquals(PCI_HEADER_TYPE_BRIDGE, portRead(PCI_HEADER_TYPE, 1));
        assertEquals(0, portRead(PCI_INTERRUPT_PIN, 1), "no INTx: the hotplug interrupt is MSI");
        assertEquals(PcieRootPort.EXP_CAP, portRead(PCI_CAPABILITY_LIST, 1));
        assertEquals(PCI_CAP_ID_EXP, portRead(PcieRootPort.EXP_CAP, 1));
        int flags = portRead(exp(PCI_EXP_FLAGS), 2);
        assertEquals(PCI_EXP_TYPE_ROOT_PORT, (flags & PCI_EXP_FLAGS_TYPE) >> 4);
        assertEquals(2, flags & 0xF, "capability version 2");
        assertTrue((flags & PCI_EXP_FLAGS_SLOT) != 0);
        assertEquals(PcieRootPort.MSI_CAP, msiCap(), "an MSI capability after it");
        int sltcap = portRead(exp(PCI_EXP_SLTCAP), 4);
        assertEquals(PCI_EXP_SLTCAP_ABP | PCI_EXP_SLTCAP_PCP | PCI_EXP_SLTCAP_AIP | PCI_EXP_SLTCAP_PIP
                | PCI_EXP_SLTCAP_HPC, sltcap & 0x7FFFF, "button, power controller, indicators, hot-plug capable");
        assertEquals(5, sltcap >>> 19, "physical slot number = slot=");
        assertTrue((portRead(exp(PCI_EXP_LNKCAP), 4) & PCI_EXP_LNKCAP_DLLLARC) != 0);
        // An empty slot: powered off, power indicator off, nothing present, link down.
        int ctl = portRead(exp(PCI_EXP_SLTCTL), 2);
        assertEquals(PCI_EXP_SLTCTL_PWR_OFF, ctl & PCI_EXP_SLTCTL_PCC);
        assertEquals(PCI_EXP_SLTCTL_PWR_IND_OFF, ctl & PCI_EXP_SLTCTL_PIC);
        assertEquals(0, portRead(exp(PCI_EXP_SLTSTA), 2) & PCI_EXP_SLTSTA_PDS);
        assertEquals(0, portRead(exp(PCI_EXP_LNKSTA), 2) & PCI_EXP_LNKSTA_DLLLA);
        // No MRL sensor, no power fault detection: their enables do not stick.
        portWrite(exp(PCI_EXP_SLTCTL), 2, PCI_EXP_SLTCTL_PFDE | PCI_EXP_SLTCTL_MRLSCE | PCI_EXP_SLTCTL_EIC | ctl);
        assertEquals(ctl, portRead(exp(PCI_EXP_SLTCTL), 2));
    }

    @Test
    void windowsAndBusNumbersAreWritableAndReadBack() {
        portWrite(PCI_PRIMARY_BUS, 4, 0x00050400);
        assertEquals(0x00050400, portRead(PCI_PRIMARY_BUS, 4) & 0xFFFFFF);
        portWrite(PCI_MEMORY_BASE, 4, 0xC01F_C000);
        assertEquals(0xC010_C000, portRead(PCI_MEMORY_BASE, 4), "1 MiB granules");
        portWrite(PCI_PREF_MEMORY_BASE, 4, 0x0000_FFF0);
        assertEquals(0x0001_FFF1, portRead(PCI_PREF_MEMORY_BASE, 4), "64-bit prefetchable window");
        portWrite(PCI_PREF_BASE_UPPER32, 4, 0x8);
        assertEquals(0x8, portRead(PCI_PREF_BASE_UPPER32, 4));
        portWrite(PCI_IO_BASE, 2, 0x2010);
        assertEquals(0x2010, portRead(PCI_IO_BASE, 2));
        portWrite(PCI_BRIDGE_CONTROL, 2, 0xFFFF);
        assertEquals(0x6F, portRead(PCI_BRIDGE_CONTROL, 2));
    }

    @Test
    void hotAddRaisesPresenceAndTheMsiThenTheGuestPowersOnEnumeratesAndDecodesThroughTheWindow() {
        setUpAsGuest();
        int ctl = PCI_EXP_SLTCTL_ABPE | PCI_EXP_SLTCTL_PDCE | PCI_EXP_SLTCTL_CCIE | PCI_EXP_SLTCTL_HPIE
                | PCI_EXP_SLTCTL_DLLSCE | PCI_EXP_SLTCTL_ATTN_IND_OFF | PCI_EXP_SLTCTL_PWR_IND_OFF
                | PCI_EXP_SLTCTL_PWR_OFF;
        portWrite(exp(PCI_EXP_SLTCTL), 2, ctl);
        assertEquals(List.of("fee00000:41"), msis, "command completed, with its interrupt enabled");
        assertTrue((portRead(exp(PCI_EXP_SLTSTA), 2) & PCI_EXP_SLTSTA_CC) != 0);
        portWrite(exp(PCI_EXP_SLTSTA), 2, PCI_EXP_SLTSTA_CC); // RW1C
        assertEquals(0, portRead(exp(PCI_EXP_SLTSTA), 2));
        assertEquals(-1, read(SECONDARY, 0, 0, 4), "nothing behind the port yet");

        TestFunction edu = new TestFunction(4096).bar(0, 1 << 20, PciConfigSpace.BarType.MEMORY32, false);
        edu.space = space;
        edu.device = new BusDevice() {
            @Override
            public long read(long offset, int size) {
                return offset == 0 ? 0x010000ed : 0;
            }

            @Override
            public void write(long offset, int size, long value) {
            }
        };
        bridge.addBehind(at, edu, "edu", true);
        assertEquals(List.of("fee00000:41", "fee00000:41"), msis, "presence detect changed: the hotplug MSI");
        int sta = portRead(exp(PCI_EXP_SLTSTA), 2);
        assertEquals(PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC, sta);
        assertTrue((portRead(exp(PCI_EXP_LNKSTA), 2) & PCI_EXP_LNKSTA_DLLLA) != 0, "link active");
        assertEquals(-1, read(SECONDARY, 0, 0, 4), "the slot's power is still off: the device answers nothing");
        portWrite(exp(PCI_EXP_SLTSTA), 2, sta & (PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC));
        assertEquals(PCI_EXP_SLTSTA_PDS, portRead(exp(PCI_EXP_SLTSTA), 2));

        // Power on, power indicator on: one command each, each completed.
        ctl = ctl & ~PCI_EXP_SLTCTL_PCC & ~PCI_EXP_SLTCTL_PIC | PCI_EXP_SLTCTL_PWR_IND_ON;
        portWrite(exp(PCI_EXP_SLTCTL), 2, ctl);
        assertEquals(3, msis.size());
        portWrite(exp(PCI_EXP_SLTSTA), 2, PCI_EXP_SLTSTA_CC);
        assertEquals(0x56781234, read(SECONDARY, 0, 0, 4), "type 1 cycle through port 0xCF8");
        assertEquals(0x56781234, ecamRead(SECONDARY, 0, 0, 4), "and through ECAM");
        assertEquals(-1, read(SECONDARY, new PciDevFn(1, 0).devfn(), 0, 4), "a link has device 0 only");
        assertEquals(-1, read(SECONDARY + 1, 0, 0, 4), "no bus behind the device");

        // The BAR decodes only in the port's memory window with the port's memory enable on.
        write(SECONDARY, 0, PCI_BASE_ADDRESS_0, 4, 0xC000_0000);
        write(SECONDARY, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
        assertEquals(List.of(), edu.events, "the window is closed: nothing decodes");
        portWrite(PCI_MEMORY_BASE, 4, 0xC000_C000);
        assertEquals(List.of("map BAR0 0xc0000000"), edu.events);
        assertEquals(0x010000edL, space.read(0xC000_0000L, 4), "edu's ID register through the window");
        portWrite(PCI_COMMAND, 2, PCI_COMMAND_MASTER);
        assertEquals(List.of("map BAR0 0xc0000000", "unmap BAR0"), edu.events, "the port's memory enable off");
        portWrite(PCI_COMMAND, 2, PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY);
        write(SECONDARY, 0, PCI_BASE_ADDRESS_0, 4, 0xD000_0000);
        assertEquals("unmap BAR0", edu.events.get(edu.events.size() - 1), "outside the window");
    }

    @Test
    void attentionButtonThenPowerOffTakesTheDeviceAway() {
        setUpAsGuest();
        TestFunction f = new TestFunction(256);
        bridge.addBehind(at, f, "test-device", false);
        assertEquals(List.of(), msis, "present at start: no event");
        int ctl = portRead(exp(PCI_EXP_SLTCTL), 2);
        assertEquals(PCI_EXP_SLTCTL_PWR_IND_ON | PCI_EXP_SLTCTL_ATTN_IND_OFF, ctl, "powered, indicator on");
        assertEquals(PCI_EXP_SLTSTA_PDS, portRead(exp(PCI_EXP_SLTSTA), 2));
        ctl |= PCI_EXP_SLTCTL_ABPE | PCI_EXP_SLTCTL_PDCE | PCI_EXP_SLTCTL_HPIE;
        portWrite(exp(PCI_EXP_SLTCTL), 2, ctl);
        assertEquals(List.of(), msis, "command completed, but its interrupt is not enabled");
        portWrite(exp(PCI_EXP_SLTSTA), 2, PCI_EXP_SLTSTA_CC);

        port.pressAttentionButton();
        assertEquals(1, msis.size(), "the button's interrupt");
        assertEquals(PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_ABP, portRead(exp(PCI_EXP_SLTSTA), 2));
        port.pressAttentionButton();
        assertEquals(1, msis.size(), "its status still set: no second interrupt");
        portWrite(exp(PCI_EXP_SLTSTA), 2, PCI_EXP_SLTSTA_ABP);

        // The guest powers the slot off, power indicator off: the device goes, presence drops.
        portWrite(exp(PCI_EXP_SLTCTL), 2, ctl & ~PCI_EXP_SLTCTL_PIC | PCI_EXP_SLTCTL_PWR_IND_OFF
                | PCI_EXP_SLTCTL_PWR_OFF);
        assertEquals(List.of("powered off pcie-root-port rp1", "removed test"), handled,
                "told under the write, removed once the write was over");
        assertNull(bridge.behind(at));
        assertEquals(2, msis.size(), "presence detect changed");
        int sta = portRead(exp(PCI_EXP_SLTSTA), 2);
        assertEquals(0, sta & PCI_EXP_SLTSTA_PDS);
        assertTrue((sta & PCI_EXP_SLTSTA_PDC) != 0);
        assertEquals(0, portRead(exp(PCI_EXP_LNKSTA), 2) & PCI_EXP_LNKSTA_DLLLA);
        // Writing the same control again takes nothing more.
        portWrite(exp(PCI_EXP_SLTCTL), 2, portRead(exp(PCI_EXP_SLTCTL), 2));
        assertEquals(2, handled.size());
    }

    @Test
    void noMsiWithoutBusMasterOrEnable() {
        portWrite(PCI_PRIMARY_BUS, 4, SECONDARY << 16 | SECONDARY << 8);
        portWrite(exp(PCI_EXP_SLTCTL), 2, PCI_EXP_SLTCTL_HPIE | PCI_EXP_SLTCTL_PDCE);
        bridge.addBehind(at, new TestFunction(256), "test-device", true);
        assertEquals(List.of(), msis, "MSI disabled: the guest polls");
        assertTrue((portRead(exp(PCI_EXP_SLTSTA), 2) & PCI_EXP_SLTSTA_PDC) != 0);
        assertSame(null, bridge.behind(new PciDevFn(3, 0)));
    }
}
