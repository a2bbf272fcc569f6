package io.jvfio.vfio.passthrough;

import io.jvfio.vmm.pci.PciRegs;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A capability in a function's configuration space: conventional (a byte ID, in the list from
 * 0x34) or extended (a 16-bit ID, in the list from 0x100). Walks stop at a link out of range, a
 * misaligned one or a loop, so a device with a broken list cannot hang the walk.
 */
record Capability(int offset, int id, boolean extended) {

    /** The conventional capabilities, in list order. */
    static List<Capability> standard(ConfigOverlay.Device device) {
        List<Capability> caps = new ArrayList<>();
        if ((device.read(PciRegs.PCI_STATUS, 2) & PciRegs.PCI_STATUS_CAP_LIST) == 0) {
            return caps;
        }
        Set<Integer> seen = new HashSet<>();
        int at = device.read(PciRegs.PCI_CAPABILITY_LIST, 1) & 0xFC;
        while (at >= 0x40 && at < PciRegs.PCI_CFG_SPACE_SIZE && seen.add(at)) {
            caps.add(new Capability(at, device.read(at + PciRegs.PCI_CAP_LIST_ID, 1) & 0xFF, false));
            at = device.read(at + PciRegs.PCI_CAP_LIST_NEXT, 1) & 0xFC;
        }
        return caps;
    }

    /** The extended capabilities, in list order (none in a 256-byte config space). */
    static List<Capability> extended(ConfigOverlay.Device device, int configSize) {
        List<Capability> caps = new ArrayList<>();
        if (configSize <= PciRegs.PCI_CFG_SPACE_SIZE) {
            return caps;
        }
        Set<Integer> seen = new HashSet<>();
        int at = PciRegs.PCI_CFG_SPACE_SIZE;
        while (at >= PciRegs.PCI_CFG_SPACE_SIZE && at + 4 <= configSize && seen.add(at)) {
            int header = device.read(at, 4);
            if (header == 0 || header == -1) {
                break;
            }
            caps.add(new Capability(at, PciRegs.extCapId(header), true));
            at = PciRegs.extCapNext(header);
        }
        return caps;
    }

    @Override
    public String toString() {
        return String.format(extended ? "[%03x] extended capability %#x" : "[%02x] capability %#x", offset, id);
    }
}
