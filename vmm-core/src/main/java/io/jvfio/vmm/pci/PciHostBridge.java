package io.jvfio.vmm.pci;

import io.jvfio.vmm.bus.AccessSize;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.bus.BusDevice;
import io.jvfio.vmm.bus.BusException;
import io.jvfio.vmm.range.UnsignedRange;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_IO;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MEMORY;
import static io.jvfio.vmm.pci.PciRegs.PCI_HEADER_TYPE;
import static io.jvfio.vmm.pci.PciRegs.PCI_ROM_ADDRESS_ENABLE;

/**
 * The guest's PCI host bridge and bus 0: configuration mechanism #1 (the address at port 0xCF8,
 * the data at 0xCFC-0xCFF) and an ECAM window (PCI Express enhanced configuration access, 4 KiB
 * per function), both reaching the same 32 slots of 8 functions. After every configuration write
 * it works out where each of the function's BARs now decodes, from the BAR registers and the
 * command register's memory and I/O enables, and has the function map, move or unmap them.
 */
public final class PciHostBridge {

    private static final Logger LOG = LoggerFactory.getLogger(PciHostBridge.class);

    public static final int CONFIG_ADDRESS = 0xCF8;
    public static final int CONFIG_DATA = 0xCFC;
    /** Where QEMU's q35 places its ECAM window (PCIEXBAR); bus 0 only, 1 MiB. */
    public static final long DEFAULT_ECAM_BASE = 0xB000_0000L;
    public static final long ECAM_SIZE = 32 * 8 * 4096;
    /**
     * The I/O window: where firmware places I/O BARs, ports 0xC000-0xFFFF, as SeaBIOS does on
     * QEMU's i440FX and q35 (below 0xC000 are the legacy ISA ports, the configuration ports and
     * the ACPI and SMBus blocks). The bridge decodes an I/O BAR wherever the guest puts it in the
     * 64 KiB of port space, as a real host bridge forwards every port no one else claims; a BAR over
     * a port already in use (0xCF8-0xCFF, say) does not decode, as in a conflict on real hardware.
     */
    public static final long IO_WINDOW_BASE = 0xC000;
    public static final long IO_WINDOW_SIZE = 0x4000;
    /** The header-type bit that marks function 0 of a multi-function device. */
    public static final int HEADER_TYPE_MULTIFUNCTION = 0x80;

    private static final long UNMAPPED = -1;

    /** A populated function: where it is, and where its BARs decode now. */
    private static final class Slot {
        final PciDevFn devfn;
        final PciFunction function;
        final String driver;
        final long[] mapped = new long[PciBar.ROM + 1];

        Slot(PciDevFn devfn, PciFunction function, String driver) {
            this.devfn = devfn;
            this.function = function;
            this.driver = driver;
            Arrays.fill(mapped, UNMAPPED);
        }
    }

    private final Slot[] functions = new Slot[256];
    private final boolean[] multifunction = new boolean[32];
    private final long ecamBase;
    private int configAddress;

    /** A bridge with its host bridge function at 00.0, on {@code space}'s port and MMIO buses. */
    public PciHostBridge(AddressSpace space, long ecamBase) {
        this.ecamBase = ecamBase;
        space.pio().add("PCI configuration (0xcf8-0xcff)", CONFIG_ADDRESS, 8, new ConfigPorts());
        space.mmio().add("PCI ECAM (bus 0)", ecamBase, ECAM_SIZE, new Ecam());
        add(new PciDevFn(0, 0), false, new HostBridgeFunction(), "host bridge");
    }

    public long ecamBase() {
        return ecamBase;
    }

    /**
     * Places {@code f} at {@code requested} ({@code addr=}), or in the first free slot if null.
     * QEMU's rules: a slot's function 0 says whether the slot is multi-function; a function other
     * than 0 needs a multi-function function 0 (or none yet, whose function 0 must then be one).
     */
    public synchronized PciDevFn add(PciDevFn requested, boolean isMultifunction, PciFunction f, String driver) {
        PciDevFn at = requested != null ? requested : firstFreeSlot(driver);
        Slot taken = functions[at.devfn()];
        if (taken != null) {
            throw new PciPlacementException("PCI: slot " + at.slot() + " function " + at.function()
                    + " not available for " + driver + ", in use by " + taken.driver);
        }
        Slot function0 = functions[at.slot() << 3];
        if (at.function() != 0 && function0 != null && !multifunction[at.slot()]) {
            throw new PciPlacementException("PCI: single function device can't be populated in function "
                    + at + " (give the device at " + new PciDevFn(at.slot(), 0) + " multifunction=on)");
        }
        if (at.function() == 0 && !isMultifunction) {
            for (int fn = 1; fn < 8; fn++) {
                if (functions[at.slot() << 3 | fn] != null) {
                    throw new PciPlacementException("PCI: " + new PciDevFn(at.slot(), 0) + " indicates single "
                            + "function, but " + new PciDevFn(at.slot(), fn) + " is already populated (give it "
                            + "multifunction=on)");
                }
            }
        }
        if (f.configSize() != PciRegs.PCI_CFG_SPACE_SIZE && f.configSize() != PciRegs.PCI_CFG_SPACE_EXP_SIZE) {
            throw new IllegalArgumentException(f.name() + " has a config space of " + f.configSize() + " bytes");
        }
        functions[at.devfn()] = new Slot(at, f, driver);
        if (at.function() == 0) {
            multifunction[at.slot()] = isMultifunction;
        }
        return at;
    }

    private PciDevFn firstFreeSlot(String driver) {
        for (int slot = 1; slot < 32; slot++) {
            boolean free = true;
            for (int fn = 0; fn < 8; fn++) {
                free &= functions[slot << 3 | fn] == null;
            }
            if (free) {
                return new PciDevFn(slot, 0);
            }
        }
        throw new PciPlacementException("PCI: no free slot for " + driver + " on bus 0 (all 31 are in use)");
    }

    /** The functions on the bus, by address. */
    public synchronized List<PciDevFn> devices() {
        List<PciDevFn> list = new ArrayList<>();
        for (Slot s : functions) {
            if (s != null) {
                list.add(s.devfn);
            }
        }
        return list;
    }

    public synchronized PciFunction function(PciDevFn at) {
        Slot s = functions[at.devfn()];
        return s == null ? null : s.function;
    }

    /** Where {@code bar} of the function at {@code at} decodes now, or -1. */
    public synchronized long mappedAddress(PciDevFn at, int bar) {
        Slot s = functions[at.devfn()];
        return s == null ? UNMAPPED : s.mapped[bar];
    }

    // ---- configuration access ----

    /** A configuration read of bus 0, as the guest issues it; all-ones from an empty function. */
    public synchronized int configRead(int devfn, int offset, int size) {
        Slot s = functions[devfn & 0xFF];
        if (s == null || !UnsignedRange.fits(offset, size, s.function.configSize()) || offset % size != 0) {
            return (int) AccessSize.allOnes(size);
        }
        int v = s.function.readConfig(offset, size);
        if (s.devfn.function() == 0 && multifunction[s.devfn.slot()]
                && UnsignedRange.contains(offset, size, PCI_HEADER_TYPE)) {
            v |= HEADER_TYPE_MULTIFUNCTION << (8 * (PCI_HEADER_TYPE - offset));
        }
        return v;
    }

    /** A configuration write; then the function's BARs are placed as the registers now say. */
    public synchronized void configWrite(int devfn, int offset, int size, int value) {
        Slot s = functions[devfn & 0xFF];
        if (s == null || !UnsignedRange.fits(offset, size, s.function.configSize()) || offset % size != 0) {
            return;
        }
        s.function.writeConfig(offset, size, value);
        updateMappings(s);
    }

    private void updateMappings(Slot s) {
        PciFunction f = s.function;
        int command = f.readConfig(PCI_COMMAND, 2);
        for (PciBar bar : f.bars()) {
            long address = address(f, bar);
            boolean decode = (command & (bar.isIo() ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY)) != 0;
            if (bar.isRom()) {
                decode &= (f.readConfig(bar.registerOffset(), 4) & PCI_ROM_ADDRESS_ENABLE) != 0;
            }
            long target = decode && decodable(bar, address) ? address : UNMAPPED;
            long current = s.mapped[bar.index()];
            if (target == current) {
                continue;
            }
            if (current != UNMAPPED) {
                f.unmapBar(bar);
                s.mapped[bar.index()] = UNMAPPED;
            }
            if (target != UNMAPPED) {
                try {
                    f.mapBar(bar, target);
                    s.mapped[bar.index()] = target;
                } catch (BusException e) {
                    // The guest placed it over something else: like a real conflict, it decodes nothing.
                    LOG.warn("{} {} at 0x{} does not decode: {}", s.devfn, bar.name(), Long.toHexString(target),
                            e.getMessage());
                } catch (RuntimeException e) {
                    // The function could not map it (an mmap failed): the guest's write must not fail.
                    LOG.error("{} {} at 0x{} does not decode: {}", s.devfn, bar.name(), Long.toHexString(target),
                            e.getMessage());
                }
            }
        }
    }

    /** The address a BAR's registers hold. */
    private static long address(PciFunction f, PciBar bar) {
        long low = Integer.toUnsignedLong(f.readConfig(bar.registerOffset(), 4));
        return switch (bar.type()) {
            case IO -> low & ~0x3L;
            case MEMORY32 -> bar.isRom() ? low & ~0x7FFL : low & ~0xFL;
            case MEMORY64 -> (low & ~0xFL) | Integer.toUnsignedLong(f.readConfig(bar.registerOffset() + 4, 4)) << 32;
        };
    }

    /**
     * Whether a BAR at {@code address} can decode. As QEMU's pci_bar_address does, address 0 and
     * ranges that wrap or pass the end of their space count as not placed: a BAR holding its size
     * mask (all-ones written to size it) is one of them, so sizing never maps anything.
     */
    static boolean decodable(PciBar bar, long address) {
        if (address == 0 || !UnsignedRange.valid(address, bar.size())) {
            return false;
        }
        long last = UnsignedRange.last(address, bar.size());
        return switch (bar.type()) {
            case IO -> Long.compareUnsigned(last, 0xFFFF) <= 0;
            case MEMORY32 -> Long.compareUnsigned(last, 0xFFFF_FFFFL) < 0;
            case MEMORY64 -> last != -1L;
        };
    }

    /**
     * A VM reset: every BAR stops decoding, then each function resets. A function that cannot reset
     * does not keep the others from it; the first failure is thrown at the end, with the rest attached.
     */
    public synchronized void reset() {
        configAddress = 0;
        RuntimeException failure = null;
        for (Slot s : functions) {
            if (s == null) {
                continue;
            }
            for (PciBar bar : s.function.bars()) {
                if (s.mapped[bar.index()] != UNMAPPED) {
                    s.function.unmapBar(bar);
                    s.mapped[bar.index()] = UNMAPPED;
                }
            }
            try {
                s.function.reset();
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    // ---- the two ways in ----

    /** Mechanism #1: CONFIG_ADDRESS (enable bit 31, bus, device, function, register) and CONFIG_DATA. */
    private final class ConfigPorts implements BusDevice {
        @Override
        public long read(long offset, int size) {
            synchronized (PciHostBridge.this) {
                if (offset == 0 && size == 4) {
                    return Integer.toUnsignedLong(configAddress);
                }
                if (offset < 4) {
                    return AccessSize.allOnes(size); // other widths at 0xCF8 are not ours
                }
                int devfn = dataTarget();
                if (devfn < 0) {
                    return AccessSize.allOnes(size);
                }
                int reg = (configAddress & 0xFC) + (int) (offset - 4);
                return AccessSize.mask(configRead(devfn, reg, size), size);
            }
        }

        @Override
        public void write(long offset, int size, long value) {
            synchronized (PciHostBridge.this) {
                if (offset == 0 && size == 4) {
                    configAddress = (int) value & 0x80FF_FFFC;
                    return;
                }
                if (offset < 4) {
                    return;
                }
                int devfn = dataTarget();
                if (devfn >= 0) {
                    configWrite(devfn, (configAddress & 0xFC) + (int) (offset - 4), size, (int) value);
                }
            }
        }

        /** The devfn CONFIG_ADDRESS selects, or -1 when disabled or on another bus. */
        private int dataTarget() {
            if (configAddress >= 0 || ((configAddress >>> 16) & 0xFF) != 0) {
                return -1;
            }
            return (configAddress >>> 8) & 0xFF;
        }
    }

    /** ECAM: bus 0's 256 functions, 4 KiB of configuration space each. */
    private final class Ecam implements BusDevice {
        @Override
        public long read(long offset, int size) {
            if (size == 8) {
                return -1L;
            }
            return AccessSize.mask(configRead((int) (offset >>> 12), (int) (offset & 0xFFF), size), size);
        }

        @Override
        public void write(long offset, int size, long value) {
            if (size != 8) {
                configWrite((int) (offset >>> 12), (int) (offset & 0xFFF), size, (int) value);
            }
        }
    }
}
