package io.jvfio.vmm.pci;

import io.jvfio.vmm.range.UnsignedRange;

import static io.jvfio.vmm.pci.PciRegs.PCI_BASE_ADDRESS_0;
import static io.jvfio.vmm.pci.PciRegs.PCI_BASE_ADDRESS_MEM_TYPE_64;
import static io.jvfio.vmm.pci.PciRegs.PCI_BASE_ADDRESS_SPACE_IO;
import static io.jvfio.vmm.pci.PciRegs.PCI_CACHE_LINE_SIZE;
import static io.jvfio.vmm.pci.PciRegs.PCI_CAPABILITY_LIST;
import static io.jvfio.vmm.pci.PciRegs.PCI_CAP_ID_MSI;
import static io.jvfio.vmm.pci.PciRegs.PCI_CAP_ID_MSIX;
import static io.jvfio.vmm.pci.PciRegs.PCI_CAP_LIST_ID;
import static io.jvfio.vmm.pci.PciRegs.PCI_CAP_LIST_NEXT;
import static io.jvfio.vmm.pci.PciRegs.PCI_CLASS_PROG;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_INTX_DISABLE;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_IO;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MASTER;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MEMORY;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_PARITY;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_SERR;
import static io.jvfio.vmm.pci.PciRegs.PCI_DEVICE_ID;
import static io.jvfio.vmm.pci.PciRegs.PCI_INTERRUPT_LINE;
import static io.jvfio.vmm.pci.PciRegs.PCI_INTERRUPT_PIN;
import static io.jvfio.vmm.pci.PciRegs.PCI_LATENCY_TIMER;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_FLAGS;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_FLAGS_ENABLE;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_FLAGS_MASKALL;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_PBA;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_TABLE;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_ADDRESS_HI;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_ADDRESS_LO;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_DATA_32;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_DATA_64;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_FLAGS;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_FLAGS_64BIT;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_FLAGS_ENABLE;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_FLAGS_MASKBIT;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_FLAGS_QSIZE;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_MASK_32;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_MASK_64;
import static io.jvfio.vmm.pci.PciRegs.PCI_REVISION_ID;
import static io.jvfio.vmm.pci.PciRegs.PCI_ROM_ADDRESS;
import static io.jvfio.vmm.pci.PciRegs.PCI_ROM_ADDRESS_ENABLE;
import static io.jvfio.vmm.pci.PciRegs.PCI_STATUS;
import static io.jvfio.vmm.pci.PciRegs.PCI_STATUS_CAP_LIST;
import static io.jvfio.vmm.pci.PciRegs.PCI_SUBSYSTEM_ID;
import static io.jvfio.vmm.pci.PciRegs.PCI_SUBSYSTEM_VENDOR_ID;
import static io.jvfio.vmm.pci.PciRegs.PCI_VENDOR_ID;

/**
 * The configuration space of an emulated PCI function: the bytes, and per byte which bits software
 * may write and which are write-one-to-clear. Everything a guest can do to it is a write filtered by
 * those masks, so BAR sizing falls out by itself: an all-ones write to a BAR reads back as its size
 * mask, because the bits below the size are not writable.
 */
public final class PciConfigSpace {

    /** BAR kinds, as their low bits encode them. */
    public enum BarType {
        MEMORY32(0), MEMORY64(PCI_BASE_ADDRESS_MEM_TYPE_64), IO(PCI_BASE_ADDRESS_SPACE_IO);

        final int bits;

        BarType(int bits) {
            this.bits = bits;
        }
    }

    private final byte[] data;
    private final byte[] writable;
    private final byte[] writeOneToClear;
    private final long[] barSize = new long[7];
    private final BarType[] barType = new BarType[7];
    private int nextCapability = 0x40;
    private int lastCapabilityLink = PCI_CAPABILITY_LIST;

    /** A config space of {@code size} bytes: 256 for PCI, 4096 for PCI Express. */
    public PciConfigSpace(int size) {
        if (size != 256 && size != 4096) {
            throw new IllegalArgumentException("a PCI config space is 256 or 4096 bytes, not " + size);
        }
        data = new byte[size];
        writable = new byte[size];
        writeOneToClear = new byte[size];
        setWritable(PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY
                | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
        setWriteOneToClear(PCI_STATUS, 2, 0xF900); // the error bits
        setWritable(PCI_CACHE_LINE_SIZE, 1, 0xFF);
        setWritable(PCI_LATENCY_TIMER, 1, 0xFF);
        setWritable(PCI_INTERRUPT_LINE, 1, 0xFF);
    }

    public int size() {
        return data.length;
    }

    // ---- building a device's config space ----

    /** Vendor, device, revision and the 24-bit class code (class, subclass, programming interface). */
    public PciConfigSpace identity(int vendor, int device, int revision, int classCode) {
        set(PCI_VENDOR_ID, 2, vendor);
        set(PCI_DEVICE_ID, 2, device);
        set(PCI_REVISION_ID, 1, revision);
        set(PCI_CLASS_PROG, 3, classCode);
        return this;
    }

    public PciConfigSpace subsystem(int vendor, int id) {
        set(PCI_SUBSYSTEM_VENDOR_ID, 2, vendor);
        set(PCI_SUBSYSTEM_ID, 2, id);
        return this;
    }

    /** INTx pin: 1 for INTA# ... 4 for INTD#, 0 for none. */
    public PciConfigSpace interruptPin(int pin) {
        set(PCI_INTERRUPT_PIN, 1, pin);
        return this;
    }

    /** Declares BAR {@code index} of {@code size} bytes (a power of two); a 64-bit BAR also takes index + 1. */
    public PciConfigSpace bar(int index, long size, BarType type, boolean prefetchable) {
        if (index < 0 || index > 5 || type == BarType.MEMORY64 && index == 5) {
            throw new IllegalArgumentException("BAR" + index + " cannot be a " + type + " BAR");
        }
        long min = type == BarType.IO ? 4 : 16;
        if (size < min || Long.bitCount(size) != 1 || type != BarType.MEMORY64 && size > 0x80000000L) {
            throw new IllegalArgumentException("BAR" + index + " size " + size + " is not a power of two in range");
        }
        int offset = PCI_BASE_ADDRESS_0 + 4 * index;
        int flags = type.bits | (prefetchable ? PciRegs.PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
        set(offset, 4, flags);
        long mask = ~(size - 1);
        setWritable(offset, 4, (int) mask & (type == BarType.IO ? ~0x3 : ~0xF));
        barSize[index] = size;
        barType[index] = type;
        if (type == BarType.MEMORY64) {
            setWritable(offset + 4, 4, (int) (mask >>> 32));
            barType[index + 1] = null;
        }
        return this;
    }

    /** An expansion ROM BAR of {@code size} bytes. */
    public PciConfigSpace rom(long size) {
        if (size < 2048 || Long.bitCount(size) != 1) {
            throw new IllegalArgumentException("the ROM BAR size " + size + " is not a power of two of at least 2 KiB");
        }
        setWritable(PCI_ROM_ADDRESS, 4, (int) ~(size - 1) & ~0x7FF | PCI_ROM_ADDRESS_ENABLE);
        barSize[6] = size;
        return this;
    }

    /** Appends a capability of {@code length} bytes to the list; returns its offset. */
    public int addCapability(int id, int length) {
        int at = nextCapability;
        if (!UnsignedRange.fits(at, length, 256)) {
            throw new IllegalStateException("no room for a " + length + "-byte capability at 0x" + Integer.toHexString(at));
        }
        set(at + PCI_CAP_LIST_ID, 1, id);
        set(at + PCI_CAP_LIST_NEXT, 1, 0);
        set(lastCapabilityLink, 1, at);
        set(PCI_STATUS, 2, (int) raw(PCI_STATUS, 2) | PCI_STATUS_CAP_LIST);
        lastCapabilityLink = at + PCI_CAP_LIST_NEXT;
        nextCapability = (at + length + 3) & ~3;
        return at;
    }

    /**
     * An MSI capability: 64-bit addresses if {@code is64}, per-vector masking if {@code maskable},
     * and 2^{@code log2Vectors} vectors (0 to 5). Returns its offset.
     */
    public int addMsi(boolean is64, boolean maskable, int log2Vectors) {
        int length = 10 + (is64 ? 4 : 0) + (maskable ? 10 : 0);
        int at = addCapability(PCI_CAP_ID_MSI, length);
        int flags = (log2Vectors << 1) | (is64 ? PCI_MSI_FLAGS_64BIT : 0) | (maskable ? PCI_MSI_FLAGS_MASKBIT : 0);
        set(at + PCI_MSI_FLAGS, 2, flags);
        setWritable(at + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE);
        setWritable(at + PCI_MSI_ADDRESS_LO, 4, 0xFFFFFFFC);
        if (is64) {
            setWritable(at + PCI_MSI_ADDRESS_HI, 4, 0xFFFFFFFF);
        }
        setWritable(at + (is64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32), 2, 0xFFFF);
        if (maskable) {
            setWritable(at + (is64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32), 4, (int) ((1L << (1 << log2Vectors)) - 1));
        }
        return at;
    }

    /** An MSI-X capability with {@code tableSize} vectors, table and PBA in the given BARs. Returns its offset. */
    public int addMsix(int tableSize, int tableBar, int tableOffset, int pbaBar, int pbaOffset) {
        if (tableSize < 1 || tableSize > 2048 || (tableOffset & 7) != 0 || (pbaOffset & 7) != 0) {
            throw new IllegalArgumentException("MSI-X table of " + tableSize + " vectors at " + tableOffset
                    + ", PBA at " + pbaOffset + ": sizes 1-2048, offsets 8-byte aligned");
        }
        int at = addCapability(PCI_CAP_ID_MSIX, PciRegs.PCI_CAP_MSIX_SIZEOF);
        set(at + PCI_MSIX_FLAGS, 2, tableSize - 1);
        setWritable(at + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
        set(at + PCI_MSIX_TABLE, 4, tableOffset | tableBar);
        set(at + PCI_MSIX_PBA, 4, pbaOffset | pbaBar);
        return at;
    }

    /** Makes the bits of {@code mask} in [offset, offset + size) writable by software. */
    public void setWritable(int offset, int size, long mask) {
        for (int i = 0; i < size; i++) {
            writable[offset + i] = (byte) (mask >>> (8 * i));
        }
    }

    /** Makes the bits of {@code mask} write-one-to-clear (status bits). */
    public void setWriteOneToClear(int offset, int size, long mask) {
        for (int i = 0; i < size; i++) {
            writeOneToClear[offset + i] = (byte) (mask >>> (8 * i));
        }
    }

    // ---- access ----

    /** A little-endian read of 1, 2 or 4 bytes, as software sees it. */
    public long read(int offset, int size) {
        check(offset, size);
        return raw(offset, size);
    }

    /** A software write: only writable bits change; write-one-to-clear bits clear where a 1 is written. */
    public void write(int offset, int size, long value) {
        check(offset, size);
        for (int i = 0; i < size; i++) {
            int at = offset + i;
            int v = (int) (value >>> (8 * i)) & 0xFF;
            int old = data[at] & 0xFF;
            int w = writable[at] & 0xFF;
            int c = writeOneToClear[at] & 0xFF;
            data[at] = (byte) ((old & ~w | v & w) & ~(v & c));
        }
    }

    /** The device's own view and update of its registers, unfiltered (status bits, pending bits...). */
    public long raw(int offset, int size) {
        long v = 0;
        for (int i = 0; i < size; i++) {
            v |= (long) (data[offset + i] & 0xFF) << (8 * i);
        }
        return v;
    }

    public void set(int offset, int size, long value) {
        for (int i = 0; i < size; i++) {
            data[offset + i] = (byte) (value >>> (8 * i));
        }
    }

    /** Every byte as it is now (a copy): the function's state, for its migration. */
    public byte[] contents() {
        return data.clone();
    }

    /**
     * Replaces every byte with {@code bytes} (what {@link #contents} gave on a function built the same
     * way): the writable and write-one-to-clear masks, which building the function set, stay.
     */
    public void setContents(byte[] bytes) {
        if (bytes.length != data.length) {
            throw new IllegalArgumentException("a " + data.length + "-byte config space takes " + data.length
                    + " bytes, not " + bytes.length);
        }
        System.arraycopy(bytes, 0, data, 0, data.length);
    }

    private void check(int offset, int size) {
        if (size != 1 && size != 2 && size != 4 || !UnsignedRange.fits(offset, size, data.length)) {
            throw new IllegalArgumentException("a config access of " + size + " bytes at 0x" + Integer.toHexString(offset)
                    + " is outside the " + data.length + "-byte config space");
        }
    }

    // ---- what the registers mean ----

    /** The size of BAR {@code index} (6 for the ROM), 0 if it is not implemented. */
    public long barSize(int index) {
        return barSize[index];
    }

    /** The type of BAR {@code index}, or null if none (or the upper half of a 64-bit BAR). */
    public BarType barType(int index) {
        return barType[index];
    }

    /** The address the guest programmed into BAR {@code index}. */
    public long barAddress(int index) {
        int offset = PCI_BASE_ADDRESS_0 + 4 * index;
        BarType t = barType[index];
        if (t == null) {
            return 0;
        }
        long low = raw(offset, 4) & (t == BarType.IO ? ~0x3L : ~0xFL) & 0xFFFFFFFFL;
        return t == BarType.MEMORY64 ? low | raw(offset + 4, 4) << 32 : low;
    }

    public int command() {
        return (int) raw(PCI_COMMAND, 2);
    }

    /** The offset of the first capability with {@code id}, or 0. */
    public int findCapability(int id) {
        int at = (int) raw(PCI_CAPABILITY_LIST, 1) & ~3;
        for (int guard = 0; at != 0 && guard < 48; guard++) {
            if (raw(at + PCI_CAP_LIST_ID, 1) == id) {
                return at;
            }
            at = (int) raw(at + PCI_CAP_LIST_NEXT, 1) & ~3;
        }
        return 0;
    }
}
