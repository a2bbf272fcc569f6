package io.jvfio.vmm.pci;

import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import static io.jvfio.vmm.pci.PciRegs.*;

/**
 * What the guest sees on its PCI bus, printed the way {@code lspci -nn} (one line per function) and
 * {@code lspci -vvv} (header, BARs, capabilities) print it. Everything is read through the bridge's
 * configuration access, as a guest reads it; only BAR sizes come from the function (lspci reads them
 * from sysfs, not by sizing, and neither does this).
 */
public final class PciConfigDump {

    private static final Map<Integer, String> CLASSES = Map.ofEntries(
            Map.entry(0x0000, "Non-VGA unclassified device"), Map.entry(0x0100, "SCSI storage controller"),
            Map.entry(0x0101, "IDE interface"), Map.entry(0x0106, "SATA controller"),
            Map.entry(0x0108, "Non-Volatile memory controller"), Map.entry(0x0200, "Ethernet controller"),
            Map.entry(0x0280, "Network controller"), Map.entry(0x0300, "VGA compatible controller"),
            Map.entry(0x0403, "Audio device"), Map.entry(0x0500, "RAM memory"), Map.entry(0x0600, "Host bridge"),
            Map.entry(0x0601, "ISA bridge"), Map.entry(0x0604, "PCI bridge"), Map.entry(0x0700, "Serial controller"),
            Map.entry(0x0880, "System peripheral"), Map.entry(0x0c03, "USB controller"),
            Map.entry(0x0c05, "SMBus"), Map.entry(0x1200, "Processing accelerators"),
            Map.entry(0x00ff, "Unclassified device"), Map.entry(0xff00, "Unassigned class"));

    private static final Map<Integer, String> EXTENDED = Map.ofEntries(
            Map.entry(PCI_EXT_CAP_ID_ERR, "Advanced Error Reporting"), Map.entry(PCI_EXT_CAP_ID_VC, "Virtual Channel"),
            Map.entry(PCI_EXT_CAP_ID_DSN, "Device Serial Number"),
            Map.entry(PCI_EXT_CAP_ID_VNDR, "Vendor Specific Information"),
            Map.entry(PCI_EXT_CAP_ID_ARI, "Alternative Routing-ID Interpretation (ARI)"),
            Map.entry(PCI_EXT_CAP_ID_ATS, "Address Translation Service (ATS)"),
            Map.entry(PCI_EXT_CAP_ID_SRIOV, "Single Root I/O Virtualization (SR-IOV)"),
            Map.entry(PCI_EXT_CAP_ID_REBAR, "Physical Resizable BAR"),
            Map.entry(PCI_EXT_CAP_ID_LTR, "Latency Tolerance Reporting"),
            Map.entry(PCI_EXT_CAP_ID_SECPCI, "Secondary PCI Express"),
            Map.entry(PCI_EXT_CAP_ID_L1SS, "L1 PM Substates"));

    /** A configuration read of the function dumped. */
    private interface ConfigReader {
        int read(int offset, int size);
    }

    private final PciHostBridge bridge;
    private final ConfigReader config;

    private PciConfigDump(PciHostBridge bridge, PciDevFn at) {
        this.bridge = bridge;
        int devfn = at.devfn();
        this.config = (offset, size) -> bridge.configRead(devfn, offset, size);
    }

    private PciConfigDump(PciFunction f) {
        this.bridge = null;
        this.config = f::readConfig;
    }

    private int r8(int offset) {
        return config.read(offset, 1) & 0xFF;
    }

    private int r16(int offset) {
        return config.read(offset, 2) & 0xFFFF;
    }

    private int r32(int offset) {
        return config.read(offset, 4);
    }

    /** Every function on the bus, {@code lspci -nn} style. */
    public static String list(PciHostBridge bridge) {
        StringBuilder sb = new StringBuilder();
        for (PciDevFn at : bridge.devices()) {
            sb.append(line(bridge, at)).append('\n');
        }
        return sb.toString();
    }

    /** {@code 00:04.0 Unclassified device [00ff]: Device [1234:11e8] (rev 10)}. */
    public static String line(PciHostBridge bridge, PciDevFn at) {
        PciConfigDump d = new PciConfigDump(bridge, at);
        int classCode = d.r16(PCI_CLASS_DEVICE);
        int revision = d.r8(PCI_REVISION_ID);
        return String.format("00:%s %s [%04x]: Device [%04x:%04x]%s", at, CLASSES.getOrDefault(classCode, "Class"),
                classCode, d.r16(PCI_VENDOR_ID), d.r16(PCI_DEVICE_ID), revision != 0
                        ? String.format(" (rev %02x)", revision) : "");
    }

    /** One function in detail, {@code lspci -vvv} style. */
    public static String verbose(PciHostBridge bridge, PciDevFn at) {
        return new PciConfigDump(bridge, at).verbose(at);
    }

    private String verbose(PciDevFn at) {
        StringBuilder sb = new StringBuilder(line(bridge, at)).append('\n');
        sb.append(String.format("\tSubsystem: Device [%04x:%04x]%n", r16(PCI_SUBSYSTEM_VENDOR_ID),
                r16(PCI_SUBSYSTEM_ID)));
        int command = r16(PCI_COMMAND);
        int status = r16(PCI_STATUS);
        sb.append("\tControl: I/O").append(flag(command, PCI_COMMAND_IO)).append(" Mem")
                .append(flag(command, PCI_COMMAND_MEMORY)).append(" BusMaster").append(flag(command, PCI_COMMAND_MASTER))
                .append(" ParErr").append(flag(command, PCI_COMMAND_PARITY)).append(" SERR")
                .append(flag(command, PCI_COMMAND_SERR)).append(" DisINTx").append(flag(command, PCI_COMMAND_INTX_DISABLE))
                .append('\n');
        sb.append("\tStatus: Cap").append(flag(status, PCI_STATUS_CAP_LIST)).append(" DEVSEL=")
                .append(new String[] {"fast", "medium", "slow", "??"}[(status >>> 9) & 3]).append(" >TAbort")
                .append(flag(status, PCI_STATUS_SIG_TARGET_ABORT)).append(" <TAbort")
                .append(flag(status, PCI_STATUS_REC_TARGET_ABORT)).append(" <MAbort")
                .append(flag(status, PCI_STATUS_REC_MASTER_ABORT)).append(" >SERR")
                .append(flag(status, PCI_STATUS_SIG_SYSTEM_ERROR)).append(" <PERR")
                .append(flag(status, PCI_STATUS_DETECTED_PARITY)).append(" INTx").append(flag(status, PCI_STATUS_INTERRUPT))
                .append('\n');
        int pin = r8(PCI_INTERRUPT_PIN);
        if (pin != 0) {
            sb.append(String.format("\tInterrupt: pin %c routed to IRQ %d%n", (char) ('A' + pin - 1),
                    r8(PCI_INTERRUPT_LINE)));
        }
        PciFunction f = bridge.function(at);
        for (PciBar bar : f.bars()) {
            sb.append(region(bar)).append('\n');
        }
        if ((status & PCI_STATUS_CAP_LIST) != 0) {
            capabilities(sb);
        }
        if (f.configSize() > PCI_CFG_SPACE_SIZE) {
            extendedCapabilities(sb);
        }
        return sb.toString();
    }

    /**
     * The address {@code bar} of the function at {@code at} is programmed with, read from its BAR
     * register(s) as the guest wrote them (both halves of a 64-bit BAR); 0 for one never programmed.
     */
    public static long barAddress(PciHostBridge bridge, PciDevFn at, PciBar bar) {
        return new PciConfigDump(bridge, at).address(bar);
    }

    /**
     * Where {@code bar} of {@code f} is programmed, read from the function itself: for a function behind
     * a bridge, whose bus number is the guest's to give.
     */
    public static long barAddress(PciFunction f, PciBar bar) {
        return new PciConfigDump(f).address(bar);
    }

    /** The name lspci gives a class ({@code 0x0200}: "Ethernet controller"), or null for one it has none for here. */
    public static String className(int classCode) {
        return CLASSES.get(classCode);
    }

    private long address(PciBar bar) {
        long low = Integer.toUnsignedLong(r32(bar.registerOffset()));
        if (bar.isRom()) {
            return low & ~0x7FFL;
        } else if (bar.isIo()) {
            return low & ~0x3L;
        }
        boolean is64 = bar.type() == PciConfigSpace.BarType.MEMORY64;
        return (low & ~0xFL) | (is64 ? Integer.toUnsignedLong(r32(bar.registerOffset() + 4)) << 32 : 0);
    }

    private String region(PciBar bar) {
        long low = Integer.toUnsignedLong(r32(bar.registerOffset()));
        long address = address(bar);
        String kind;
        if (bar.isRom()) {
            return String.format("\tExpansion ROM at %s%s [size=%s]", at(address), (low & PCI_ROM_ADDRESS_ENABLE) != 0
                    ? "" : " [disabled]", size(bar.size()));
        } else if (bar.isIo()) {
            return String.format("\tRegion %d: I/O ports at %s [size=%s]", bar.index(), address == 0 ? "<unassigned>"
                    : Long.toHexString(address), size(bar.size()));
        }
        boolean is64 = bar.type() == PciConfigSpace.BarType.MEMORY64;
        kind = (is64 ? "64-bit" : "32-bit") + ", " + (bar.prefetchable() ? "prefetchable" : "non-prefetchable");
        return String.format("\tRegion %d: Memory at %s (%s) [size=%s]", bar.index(), at(address), kind, size(bar.size()));
    }

    private static String at(long address) {
        return address == 0 ? "<unassigned>" : Long.toHexString(address);
    }

    private void capabilities(StringBuilder sb) {
        Set<Integer> seen = new HashSet<>();
        for (int at = r8(PCI_CAPABILITY_LIST) & ~3; at >= 0x40 && seen.add(at); at = r8(at + PCI_CAP_LIST_NEXT) & ~3) {
            int id = r8(at + PCI_CAP_LIST_ID);
            sb.append(String.format("\tCapabilities: [%02x] ", at));
            switch (id) {
                case PCI_CAP_ID_PM -> {
                    int pmc = r16(at + PCI_PM_PMC);
                    int ctrl = r16(at + PCI_PM_CTRL);
                    sb.append("Power Management version ").append(pmc & 7).append("\n\t\tStatus: D").append(ctrl & 3)
                            .append(" PME-Enable").append(flag(ctrl, 0x100)).append('\n');
                }
                case PCI_CAP_ID_MSI -> msi(sb, at);
                case PCI_CAP_ID_MSIX -> {
                    int flags = r16(at + PCI_MSIX_FLAGS);
                    int table = r32(at + PCI_MSIX_TABLE);
                    int pba = r32(at + PCI_MSIX_PBA);
                    sb.append("MSI-X: Enable").append(flag(flags, PCI_MSIX_FLAGS_ENABLE)).append(" Count=")
                            .append((flags & PCI_MSIX_FLAGS_QSIZE) + 1).append(" Masked")
                            .append(flag(flags, PCI_MSIX_FLAGS_MASKALL)).append('\n')
                            .append(String.format("\t\tVector table: BAR=%d offset=%08x%n", table & PCI_MSIX_TABLE_BIR,
                                    table & PCI_MSIX_TABLE_OFFSET))
                            .append(String.format("\t\tPBA: BAR=%d offset=%08x%n", pba & PCI_MSIX_PBA_BIR,
                                    pba & PCI_MSIX_PBA_OFFSET));
                }
                case PCI_CAP_ID_EXP -> {
                    int flags = r16(at + PCI_EXP_FLAGS);
                    int type = (flags >>> 4) & 0xF;
                    sb.append(String.format("Express (v%d) %s, MSI %02x%n", flags & 0xF, type == 0 ? "Endpoint"
                            : type == 9 ? "Root Complex Integrated Endpoint" : "type " + type, (flags >>> 9) & 0x1F));
                }
                case PCI_CAP_ID_VNDR -> sb.append(String.format("Vendor Specific Information: Len=%02x <?>%n",
                        r8(at + PCI_CAP_FLAGS)));
                default -> sb.append(String.format("#%02x [%04x]%n", id, r16(at + PCI_CAP_FLAGS)));
            }
        }
    }

    private void msi(StringBuilder sb, int at) {
        int flags = r16(at + PCI_MSI_FLAGS);
        boolean is64 = (flags & PCI_MSI_FLAGS_64BIT) != 0;
        boolean maskable = (flags & PCI_MSI_FLAGS_MASKBIT) != 0;
        sb.append(String.format("MSI: Enable%s Count=%d/%d Maskable%s 64bit%s%n", flag(flags, PCI_MSI_FLAGS_ENABLE),
                1 << ((flags & PCI_MSI_FLAGS_QSIZE) >>> 4), 1 << ((flags & PCI_MSI_FLAGS_QMASK) >>> 1),
                maskable ? "+" : "-", is64 ? "+" : "-"));
        long address = Integer.toUnsignedLong(r32(at + PCI_MSI_ADDRESS_LO))
                | (is64 ? Integer.toUnsignedLong(r32(at + PCI_MSI_ADDRESS_HI)) << 32 : 0);
        int data = r16(at + (is64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32));
        sb.append(is64 ? String.format("\t\tAddress: %016x  Data: %04x%n", address, data)
                : String.format("\t\tAddress: %08x  Data: %04x%n", address, data));
        if (maskable) {
            sb.append(String.format("\t\tMasking: %08x  Pending: %08x%n", r32(at + (is64 ? PCI_MSI_MASK_64
                    : PCI_MSI_MASK_32)), r32(at + (is64 ? PCI_MSI_PENDING_64 : PCI_MSI_PENDING_32))));
        }
    }

    private void extendedCapabilities(StringBuilder sb) {
        Set<Integer> seen = new HashSet<>();
        for (int at = PCI_CFG_SPACE_SIZE; at >= PCI_CFG_SPACE_SIZE && seen.add(at); ) {
            int header = r32(at);
            if (header == 0 || header == -1) {
                break;
            }
            int id = extCapId(header);
            if (id != 0) {
                String name = EXTENDED.get(id);
                sb.append(String.format("\tCapabilities: [%03x v%d] %s%n", at, extCapVersion(header),
                        name != null ? name : String.format("Extended Capability ID %#x", id)));
            }
            at = extCapNext(header);
        }
    }

    private static String flag(int value, int bit) {
        return (value & bit) != 0 ? "+" : "-";
    }

    /** A size as lspci writes a BAR's: {@code 4K}, {@code 1M}, {@code 2G}, else in bytes. */
    public static String size(long bytes) {
        if (bytes >= 1L << 30 && bytes % (1L << 30) == 0) {
            return (bytes >> 30) + "G";
        }
        if (bytes >= 1 << 20 && bytes % (1 << 20) == 0) {
            return (bytes >> 20) + "M";
        }
        if (bytes >= 1 << 10 && bytes % (1 << 10) == 0) {
            return (bytes >> 10) + "K";
        }
        return Long.toString(bytes);
    }
}
