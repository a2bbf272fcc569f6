package io.jvfio.vfio.devices;

/**
 * The BAR0 registers of QEMU's {@code edu} device ({@code docs/specs/edu.rst}), plus the extensions
 * this implementation adds (marked). Offsets below 0x80 take 4-byte accesses only; the DMA
 * registers take 4 or 8 bytes.
 */
public final class EduRegisters {

    private EduRegisters() {
    }

    /** Size of BAR0. */
    public static final int BAR0_SIZE = 1 << 20;

    /** RO: 0xRRrr00ed, major RR, minor rr. */
    public static final int ID = 0x00;
    public static final int ID_VALUE = 0x010000ed;
    /** RW: reads back the bitwise inverse of what was written. */
    public static final int LIVENESS = 0x04;
    /** RW: the factorial of the value written, once status bit COMPUTING clears. */
    public static final int FACTORIAL = 0x08;
    /** RW: COMPUTING (RO) and IRQ_FACTORIAL. */
    public static final int STATUS = 0x20;
    public static final int STATUS_COMPUTING = 0x01;
    public static final int STATUS_IRQ_FACTORIAL = 0x80;
    /** RO: the values that raised the interrupt. */
    public static final int IRQ_STATUS = 0x24;
    /** WO: ORs the value into IRQ_STATUS and raises the interrupt. */
    public static final int IRQ_RAISE = 0x60;
    /** WO: clears the value's bits from IRQ_STATUS; the line drops when none is left. */
    public static final int IRQ_ACK = 0x64;
    /** WO, extension: fires MSI-X vector N (0-7) directly, for drivers that test every vector. */
    public static final int MSIX_FIRE = 0x68;
    /** Interrupt status value after a factorial, and after a DMA. */
    public static final int IRQ_FACTORIAL_DONE = 0x001;
    public static final int IRQ_DMA_DONE = 0x100;

    public static final int DMA_SRC = 0x80;
    public static final int DMA_DST = 0x88;
    public static final int DMA_COUNT = 0x90;
    public static final int DMA_CMD = 0x98;
    public static final int DMA_CMD_RUN = 0x01;
    /** Direction: 0 from RAM to the device's buffer, 1 from the buffer to RAM. */
    public static final int DMA_CMD_TO_RAM = 0x02;
    public static final int DMA_CMD_IRQ = 0x04;

    /** The device's DMA buffer, as a DMA address on the device side. */
    public static final int DMA_BUFFER = 0x40000;
    public static final int DMA_BUFFER_SIZE = 4096;
    /** The default DMA mask: 28 bits (256 MiB), as QEMU's edu has. */
    public static final long DMA_MASK = (1L << 28) - 1;

    /** PCI identity: 1234:11e8, revision 0x10, class 00ff (base class 0x00, subclass 0xff: PCI_CLASS_OTHERS). */
    public static final int VENDOR_ID = 0x1234;
    public static final int DEVICE_ID = 0x11e8;
    public static final int REVISION = 0x10;
    public static final int CLASS_CODE = 0x00ff00;

    /** BAR1: the MSI-X table (8 vectors) at 0 and the PBA at 0x800. */
    public static final int BAR1_SIZE = 4096;
    public static final int MSIX_VECTORS = 8;
    public static final int MSIX_TABLE_OFFSET = 0x000;
    public static final int MSIX_PBA_OFFSET = 0x800;

    /** BAR2: 1 MiB of memory backed by a memfd, mmap-able by the client. */
    public static final int BAR2_SIZE = 1 << 20;
}
