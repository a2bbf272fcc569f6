package io.jvfio.vfio.passthrough;

import io.jvfio.vmm.pci.PciBar;
import io.jvfio.vmm.pci.PciConfigDump;
import io.jvfio.vmm.pci.PciConfigSpace;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;

import static io.jvfio.vmm.pci.PciRegs.PCI_CLASS_PROG;
import static io.jvfio.vmm.pci.PciRegs.PCI_DEVICE_ID;
import static io.jvfio.vmm.pci.PciRegs.PCI_SUBSYSTEM_ID;
import static io.jvfio.vmm.pci.PciRegs.PCI_SUBSYSTEM_VENDOR_ID;
import static io.jvfio.vmm.pci.PciRegs.PCI_VENDOR_ID;

/**
 * What a passed-through device's migrated state needs the destination's device to be: the IDs and
 * class the guest sees (its driver bound to them) and the BARs' kinds and sizes (the guest placed
 * them: another layout cannot take the state). QEMU's load checks the same through the read-only bits
 * of the config space it loads.
 */
record DeviceIdentity(int vendor, int device, int subVendor, int subDevice, int classCode, List<PciBar> bars) {

    DeviceIdentity {
        bars = List.copyOf(bars);
    }

    /** The identity the guest sees of the function behind {@code overlay}. */
    static DeviceIdentity of(ConfigOverlay overlay, List<PciBar> bars) {
        return new DeviceIdentity(overlay.read(PCI_VENDOR_ID, 2) & 0xFFFF, overlay.read(PCI_DEVICE_ID, 2) & 0xFFFF,
                overlay.read(PCI_SUBSYSTEM_VENDOR_ID, 2) & 0xFFFF, overlay.read(PCI_SUBSYSTEM_ID, 2) & 0xFFFF,
                overlay.read(PCI_CLASS_PROG, 1) & 0xFF | (overlay.read(PCI_CLASS_PROG + 1, 2) & 0xFFFF) << 8, bars);
    }

    /** E.g. {@code "pci 1234:11e8 subsystem 1af4:1100 class 00ff00 BAR0 1M BAR1 4K BAR2 1M 64-bit"}: the state id. */
    @Override
    public String toString() {
        return String.format("pci %04x:%04x subsystem %04x:%04x class %06x%s", vendor, device, subVendor, subDevice,
                classCode, barsText(bars));
    }

    private static String barsText(List<PciBar> bars) {
        StringJoiner j = new StringJoiner("");
        for (PciBar b : bars) {
            j.add(" " + b.name() + " " + PciConfigDump.size(b.size()) + (b.isIo() ? " I/O" : b.type() == PciConfigSpace.BarType.MEMORY64
                    ? " 64-bit" : "") + (b.prefetchable() ? " prefetchable" : ""));
        }
        return j.toString();
    }

    /**
     * What differs between the device a stream was saved from ({@code stream}) and this one, in words
     * ({@code "the stream's device is 1234:11e8, this one is 1b36:0005"}); null if nothing does.
     */
    String difference(DeviceIdentity stream) {
        if (stream.vendor != vendor || stream.device != device) {
            return String.format("the stream's device is %04x:%04x, this one is %04x:%04x", stream.vendor, stream.device,
                    vendor, device);
        }
        if (stream.subVendor != subVendor || stream.subDevice != subDevice) {
            return String.format("the stream's device has subsystem %04x:%04x, this one %04x:%04x", stream.subVendor,
                    stream.subDevice, subVendor, subDevice);
        }
        if (stream.classCode != classCode) {
            return String.format("the stream's device has class %06x, this one %06x", stream.classCode, classCode);
        }
        if (!stream.bars.equals(bars)) {
            return "the stream's device has the BARs" + barsText(stream.bars) + ", this one" + barsText(bars)
                    + " (the guest placed its BARs for the stream's: another layout cannot take its state)";
        }
        return null;
    }

    void write(DataOutput out) throws IOException {
        out.writeShort(vendor);
        out.writeShort(device);
        out.writeShort(subVendor);
        out.writeShort(subDevice);
        out.writeInt(classCode);
        out.writeByte(bars.size());
        for (PciBar b : bars) {
            out.writeByte(b.index());
            out.writeByte(b.type().ordinal());
            out.writeLong(b.size());
            out.writeBoolean(b.prefetchable());
        }
    }

    static DeviceIdentity read(DataInput in) throws IOException {
        int vendor = in.readUnsignedShort();
        int device = in.readUnsignedShort();
        int subVendor = in.readUnsignedShort();
        int subDevice = in.readUnsignedShort();
        int classCode = in.readInt();
        int n = in.readUnsignedByte();
        List<PciBar> bars = new ArrayList<>();
        PciConfigSpace.BarType[] types = PciConfigSpace.BarType.values();
        for (int i = 0; i < n; i++) {
            int index = in.readUnsignedByte();
            int type = in.readUnsignedByte();
            long size = in.readLong();
            boolean prefetchable = in.readBoolean();
            if (type >= types.length) {
                throw new IOException("BAR type " + type + " is not one of " + List.of(types));
            }
            bars.add(new PciBar(index, types[type], size, prefetchable));
        }
        return new DeviceIdentity(vendor, device, subVendor, subDevice, classCode, bars);
    }
}
