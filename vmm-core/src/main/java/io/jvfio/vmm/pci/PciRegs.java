package io.jvfio.vmm.pci;

import io.jvfio.vmm.linux.jna.CMacros;

/**
 * Offsets and bits of PCI configuration space (type 0 header, capabilities, MSI, MSI-X, extended
 * capabilities), named as in {@code linux/pci_regs.h} and checked against it.
 */
@CMacros("linux/pci_regs.h")
public final class PciRegs {

    private PciRegs() {
    }

    // Type 0 header
    public static final int PCI_VENDOR_ID = 0x00;
    public static final int PCI_DEVICE_ID = 0x02;
    public static final int PCI_COMMAND = 0x04;
    public static final int PCI_COMMAND_IO = 0x1;
    public static final int PCI_COMMAND_MEMORY = 0x2;
    public static final int PCI_COMMAND_MASTER = 0x4;
    public static final int PCI_COMMAND_PARITY = 0x40;
    public static final int PCI_COMMAND_SERR = 0x100;
    public static final int PCI_COMMAND_INTX_DISABLE = 0x400;
    public static final int PCI_STATUS = 0x06;
    public static final int PCI_STATUS_INTERRUPT = 0x08;
    public static final int PCI_STATUS_CAP_LIST = 0x10;
    public static final int PCI_STATUS_PARITY = 0x100;
    public static final int PCI_STATUS_SIG_TARGET_ABORT = 0x800;
    public static final int PCI_STATUS_REC_TARGET_ABORT = 0x1000;
    public static final int PCI_STATUS_REC_MASTER_ABORT = 0x2000;
    public static final int PCI_STATUS_SIG_SYSTEM_ERROR = 0x4000;
    public static final int PCI_STATUS_DETECTED_PARITY = 0x8000;
    public static final int PCI_CLASS_REVISION = 0x08;
    public static final int PCI_REVISION_ID = 0x08;
    public static final int PCI_CLASS_PROG = 0x09;
    public static final int PCI_CLASS_DEVICE = 0x0a;
    public static final int PCI_CACHE_LINE_SIZE = 0x0c;
    public static final int PCI_LATENCY_TIMER = 0x0d;
    public static final int PCI_HEADER_TYPE = 0x0e;
    public static final int PCI_HEADER_TYPE_NORMAL = 0;
    public static final int PCI_BASE_ADDRESS_0 = 0x10;
    public static final int PCI_BASE_ADDRESS_5 = 0x24;
    public static final int PCI_BASE_ADDRESS_SPACE = 0x01;
    public static final int PCI_BASE_ADDRESS_SPACE_IO = 0x01;
    public static final int PCI_BASE_ADDRESS_SPACE_MEMORY = 0x00;
    public static final int PCI_BASE_ADDRESS_MEM_TYPE_MASK = 0x06;
    public static final int PCI_BASE_ADDRESS_MEM_TYPE_32 = 0x00;
    public static final int PCI_BASE_ADDRESS_MEM_TYPE_64 = 0x04;
    public static final int PCI_BASE_ADDRESS_MEM_PREFETCH = 0x08;
    public static final int PCI_BASE_ADDRESS_MEM_MASK = ~0x0f;
    public static final int PCI_BASE_ADDRESS_IO_MASK = ~0x03;
    public static final int PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
    public static final int PCI_SUBSYSTEM_ID = 0x2e;
    public static final int PCI_ROM_ADDRESS = 0x30;
    public static final int PCI_ROM_ADDRESS_ENABLE = 0x01;
    public static final int PCI_ROM_ADDRESS_MASK = ~0x7ff;
    public static final int PCI_CAPABILITY_LIST = 0x34;
    public static final int PCI_INTERRUPT_LINE = 0x3c;
    public static final int PCI_INTERRUPT_PIN = 0x3d;

    // Type 1 header (PCI-to-PCI bridges)
    public static final int PCI_HEADER_TYPE_BRIDGE = 1;
    public static final int PCI_PRIMARY_BUS = 0x18;
    public static final int PCI_SECONDARY_BUS = 0x19;
    public static final int PCI_SUBORDINATE_BUS = 0x1a;
    public static final int PCI_SEC_LATENCY_TIMER = 0x1b;
    public static final int PCI_IO_BASE = 0x1c;
    public static final int PCI_IO_LIMIT = 0x1d;
    public static final int PCI_IO_RANGE_TYPE_16 = 0x00;
    public static final int PCI_IO_RANGE_TYPE_32 = 0x01;
    public static final int PCI_SEC_STATUS = 0x1e;
    public static final int PCI_MEMORY_BASE = 0x20;
    public static final int PCI_MEMORY_LIMIT = 0x22;
    public static final int PCI_PREF_MEMORY_BASE = 0x24;
    public static final int PCI_PREF_MEMORY_LIMIT = 0x26;
    public static final int PCI_PREF_RANGE_TYPE_64 = 0x01;
    public static final int PCI_PREF_BASE_UPPER32 = 0x28;
    public static final int PCI_PREF_LIMIT_UPPER32 = 0x2c;
    public static final int PCI_IO_BASE_UPPER16 = 0x30;
    public static final int PCI_IO_LIMIT_UPPER16 = 0x32;
    public static final int PCI_ROM_ADDRESS1 = 0x38;
    public static final int PCI_BRIDGE_CONTROL = 0x3e;
    public static final int PCI_BRIDGE_CTL_PARITY = 0x01;
    public static final int PCI_BRIDGE_CTL_SERR = 0x02;
    public static final int PCI_BRIDGE_CTL_ISA = 0x04;
    public static final int PCI_BRIDGE_CTL_VGA = 0x08;
    public static final int PCI_BRIDGE_CTL_MASTER_ABORT = 0x20;
    public static final int PCI_BRIDGE_CTL_BUS_RESET = 0x40;

    // Capability list
    public static final int PCI_CAP_LIST_ID = 0;
    public static final int PCI_CAP_LIST_NEXT = 1;
    public static final int PCI_CAP_FLAGS = 2;
    public static final int PCI_CAP_ID_PM = 0x01;
    public static final int PCI_CAP_ID_MSI = 0x05;
    public static final int PCI_CAP_ID_VNDR = 0x09;
    public static final int PCI_CAP_ID_EXP = 0x10;
    public static final int PCI_CAP_ID_MSIX = 0x11;

    // MSI capability
    public static final int PCI_MSI_FLAGS = 0x02;
    public static final int PCI_MSI_FLAGS_ENABLE = 0x0001;
    public static final int PCI_MSI_FLAGS_QMASK = 0x000e;
    public static final int PCI_MSI_FLAGS_QSIZE = 0x0070;
    public static final int PCI_MSI_FLAGS_64BIT = 0x0080;
    public static final int PCI_MSI_FLAGS_MASKBIT = 0x0100;
    public static final int PCI_MSI_ADDRESS_LO = 0x04;
    public static final int PCI_MSI_ADDRESS_HI = 0x08;
    public static final int PCI_MSI_DATA_32 = 0x08;
    public static final int PCI_MSI_MASK_32 = 0x0c;
    public static final int PCI_MSI_PENDING_32 = 0x10;
    public static final int PCI_MSI_DATA_64 = 0x0c;
    public static final int PCI_MSI_MASK_64 = 0x10;
    public static final int PCI_MSI_PENDING_64 = 0x14;

    // MSI-X capability and table entries
    public static final int PCI_MSIX_FLAGS = 2;
    public static final int PCI_MSIX_FLAGS_QSIZE = 0x07FF;
    public static final int PCI_MSIX_FLAGS_MASKALL = 0x4000;
    public static final int PCI_MSIX_FLAGS_ENABLE = 0x8000;
    public static final int PCI_MSIX_TABLE = 4;
    public static final int PCI_MSIX_TABLE_BIR = 0x00000007;
    public static final int PCI_MSIX_TABLE_OFFSET = 0xfffffff8;
    public static final int PCI_MSIX_PBA = 8;
    public static final int PCI_MSIX_PBA_BIR = 0x00000007;
    public static final int PCI_MSIX_PBA_OFFSET = 0xfffffff8;
    public static final int PCI_CAP_MSIX_SIZEOF = 12;
    public static final int PCI_MSIX_ENTRY_SIZE = 16;
    public static final int PCI_MSIX_ENTRY_LOWER_ADDR = 0x0;
    public static final int PCI_MSIX_ENTRY_UPPER_ADDR = 0x4;
    public static final int PCI_MSIX_ENTRY_DATA = 0x8;
    public static final int PCI_MSIX_ENTRY_VECTOR_CTRL = 0xc;
    public static final int PCI_MSIX_ENTRY_CTRL_MASKBIT = 0x00000001;

    // Extended capabilities (PCIe, from offset 0x100)
    public static final int PCI_CFG_SPACE_SIZE = 256;
    public static final int PCI_CFG_SPACE_EXP_SIZE = 4096;
    public static final int PCI_EXT_CAP_ID_ARI = 0x0E;
    public static final int PCI_EXT_CAP_ID_SRIOV = 0x10;
    public static final int PCI_EXT_CAP_ID_REBAR = 0x15;
    public static final int PCI_EXT_CAP_ID_ERR = 0x01;
    public static final int PCI_EXT_CAP_ID_VC = 0x02;
    public static final int PCI_EXT_CAP_ID_DSN = 0x03;
    public static final int PCI_EXT_CAP_ID_VNDR = 0x0B;
    public static final int PCI_EXT_CAP_ID_ATS = 0x0F;
    public static final int PCI_EXT_CAP_ID_LTR = 0x18;
    public static final int PCI_EXT_CAP_ID_SECPCI = 0x19;
    public static final int PCI_EXT_CAP_ID_L1SS = 0x1E;

    // Power management and PCI Express capabilities
    public static final int PCI_PM_PMC = 2;
    public static final int PCI_PM_CTRL = 4;
    public static final int PCI_EXP_FLAGS = 0x02;

    // PCI Express capability: a Root Port's registers (offsets from the capability)
    public static final int PCI_EXP_FLAGS_TYPE = 0x00f0;
    public static final int PCI_EXP_TYPE_ROOT_PORT = 0x4;
    public static final int PCI_EXP_FLAGS_SLOT = 0x0100;
    public static final int PCI_EXP_FLAGS_IRQ = 0x3e00;
    public static final int PCI_EXP_DEVCAP = 0x04;
    public static final int PCI_EXP_DEVCTL = 0x08;
    public static final int PCI_EXP_DEVSTA = 0x0a;
    public static final int PCI_EXP_LNKCAP = 0x0c;
    public static final int PCI_EXP_LNKCAP_SLS_2_5GB = 0x00000001;
    public static final int PCI_EXP_LNKCAP_DLLLARC = 0x00100000;
    public static final int PCI_EXP_LNKCTL = 0x10;
    public static final int PCI_EXP_LNKSTA = 0x12;
    public static final int PCI_EXP_LNKSTA_CLS_2_5GB = 0x0001;
    public static final int PCI_EXP_LNKSTA_NLW_X1 = 0x0010;
    public static final int PCI_EXP_LNKSTA_DLLLA = 0x2000;
    public static final int PCI_EXP_SLTCAP = 0x14;
    public static final int PCI_EXP_SLTCAP_ABP = 0x00000001;
    public static final int PCI_EXP_SLTCAP_PCP = 0x00000002;
    public static final int PCI_EXP_SLTCAP_MRLSP = 0x00000004;
    public static final int PCI_EXP_SLTCAP_AIP = 0x00000008;
    public static final int PCI_EXP_SLTCAP_PIP = 0x00000010;
    public static final int PCI_EXP_SLTCAP_HPS = 0x00000020;
    public static final int PCI_EXP_SLTCAP_HPC = 0x00000040;
    public static final int PCI_EXP_SLTCAP_NCCS = 0x00040000;
    public static final int PCI_EXP_SLTCAP_PSN = 0xfff80000;
    public static final int PCI_EXP_SLTCTL = 0x18;
    public static final int PCI_EXP_SLTCTL_ABPE = 0x0001;
    public static final int PCI_EXP_SLTCTL_PFDE = 0x0002;
    public static final int PCI_EXP_SLTCTL_MRLSCE = 0x0004;
    public static final int PCI_EXP_SLTCTL_PDCE = 0x0008;
    public static final int PCI_EXP_SLTCTL_CCIE = 0x0010;
    public static final int PCI_EXP_SLTCTL_HPIE = 0x0020;
    public static final int PCI_EXP_SLTCTL_AIC = 0x00c0;
    public static final int PCI_EXP_SLTCTL_ATTN_IND_ON = 0x0040;
    public static final int PCI_EXP_SLTCTL_ATTN_IND_BLINK = 0x0080;
    public static final int PCI_EXP_SLTCTL_ATTN_IND_OFF = 0x00c0;
    public static final int PCI_EXP_SLTCTL_PIC = 0x0300;
    public static final int PCI_EXP_SLTCTL_PWR_IND_ON = 0x0100;
    public static final int PCI_EXP_SLTCTL_PWR_IND_BLINK = 0x0200;
    public static final int PCI_EXP_SLTCTL_PWR_IND_OFF = 0x0300;
    public static final int PCI_EXP_SLTCTL_PCC = 0x0400;
    public static final int PCI_EXP_SLTCTL_PWR_ON = 0x0000;
    public static final int PCI_EXP_SLTCTL_PWR_OFF = 0x0400;
    public static final int PCI_EXP_SLTCTL_EIC = 0x0800;
    public static final int PCI_EXP_SLTCTL_DLLSCE = 0x1000;
    public static final int PCI_EXP_SLTSTA = 0x1a;
    public static final int PCI_EXP_SLTSTA_ABP = 0x0001;
    public static final int PCI_EXP_SLTSTA_PFD = 0x0002;
    public static final int PCI_EXP_SLTSTA_MRLSC = 0x0004;
    public static final int PCI_EXP_SLTSTA_PDC = 0x0008;
    public static final int PCI_EXP_SLTSTA_CC = 0x0010;
    public static final int PCI_EXP_SLTSTA_MRLSS = 0x0020;
    public static final int PCI_EXP_SLTSTA_PDS = 0x0040;
    public static final int PCI_EXP_SLTSTA_EIS = 0x0080;
    public static final int PCI_EXP_SLTSTA_DLLSC = 0x0100;
    public static final int PCI_EXP_RTCTL = 0x1c;
    public static final int PCI_EXP_RTSTA = 0x20;
    public static final int PCI_EXP_LNKCAP2 = 0x2c;
    public static final int PCI_EXP_LNKCTL2 = 0x30;

    /** The ID of an extended capability header (PCI_EXT_CAP_ID in pci_regs.h). */
    public static int extCapId(int header) {
        return header & 0xffff;
    }

    /** Its version (PCI_EXT_CAP_VER). */
    public static int extCapVersion(int header) {
        return (header >>> 16) & 0xf;
    }

    /** The offset of the next extended capability, 0 at the end (PCI_EXT_CAP_NEXT). */
    public static int extCapNext(int header) {
        return (header >>> 20) & 0xffc;
    }

    /** A header with these fields. */
    public static int extCapHeader(int id, int version, int next) {
        return (id & 0xffff) | (version & 0xf) << 16 | (next & 0xffc) << 20;
    }
}
