package io.jvfio.vmm.pci;

import io.jvfio.vmm.bus.AccessSize;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.bus.BusDevice;
import io.jvfio.vmm.bus.BusException;
import io.jvfio.vmm.range.UnsignedRange;
import io.jvfio.vmm.migration.Migratable;
import io.jvfio.vmm.migration.SavedState;
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
 * per function, 1 MiB per bus, 256 MiB for buses 0-255 as on QEMU's q35), both reaching the same
 * 32 slots of 8 functions on bus 0, and, by type 1 cycles (another bus number), the function behind
 * each PCI-to-PCI bridge on bus 0 ({@link PciBridgeFunction}, such as a PCI Express Root Port): the
 * bridge whose secondary bus number the cycle names passes it to device 0 of its link, the one device
 * a root port's link has; every other device and bus reads all-ones. After every configuration write
 * it works out where each of the function's BARs now decodes, from the BAR registers and the
 * command register's memory and I/O enables (and, behind a bridge, the bridge's windows and enables:
 * {@link PciBridgeWindows}), and has the function map, move or unmap them.
 *
 * <p>Only one level of bridges: a bridge behind a bridge is not routed (no PCI Express switch).
 *
 * <p>It migrates ({@link Migratable}): its own state is CONFIG_ADDRESS (a vCPU may stop between
 * writing it and reading CONFIG_DATA); each function's registers are that function's. Its
 * {@link #restore} comes after every function's, for it places their BARs as their restored registers
 * say (the BAR registers, enables and, behind a bridge, the bridge's windows and slot power).
 */
public final class PciHostBridge implements Migratable {

    private static final Logger LOG = LoggerFactory.getLogger(PciHostBridge.class);

    public static final int CONFIG_ADDRESS = 0xCF8;
    public static final int CONFIG_DATA = 0xCFC;
    /** Where QEMU's q35 places its ECAM window (PCIEXBAR). */
    public static final long DEFAULT_ECAM_BASE = 0xB000_0000L;
    /** 256 buses of 32 devices of 8 functions, 4 KiB each: 256 MiB, 0xB0000000-0xBFFFFFFF, as q35's PCIEXBAR. */
    public static final long ECAM_SIZE = 256L * 32 * 8 * 4096;
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
    /** The kind and version of {@link #snapshot}'s format. */
    static final String STATE_KIND = "PCI host bridge";
    static final int STATE_VERSION = 1;

    /** A populated function: where it is, and where its BARs decode now. */
    private static final class Slot {
        final PciDevFn devfn;
        final PciFunction function;
        final String driver;
        /** The bridge's slot on bus 0 for a function behind one, else null. */
        final Slot upstream;
        final long[] mapped = new long[PciBar.ROM + 1];

        Slot(PciDevFn devfn, PciFunction function, String driver, Slot upstream) {
            this.devfn = devfn;
            this.function = function;
            this.driver = driver;
            this.upstream = upstream;
            Arrays.fill(mapped, UNMAPPED);
        }
    }

    private final Slot[] functions = new Slot[256];
    /** The function behind each bridge of bus 0, by the bridge's devfn. */
    private final Slot[] behind = new Slot[256];
    /** What a configuration write asked to run once it is over, outside this bridge's lock. */
    private List<Runnable> afterCycle = new ArrayList<>();
    /** The thread inside a function's configuration write, under this bridge's lock; else null. */
    private Thread inCycle;
    private final boolean[] multifunction = new boolean[32];
    private final long ecamBase;
    private int configAddress;

    /** A bridge with its host bridge function at 00.0, on {@code space}'s port and MMIO buses. */
    public PciHostBridge(AddressSpace space, long ecamBase) {
        this.ecamBase = ecamBase;
        space.pio().add("PCI configuration (0xcf8-0xcff)", CONFIG_ADDRESS, 8, new ConfigPorts());
        space.mmio().add("PCI ECAM (buses 0-255)", ecamBase, ECAM_SIZE, new Ecam());
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
        Slot s = new Slot(at, f, driver, null);
        functions[at.devfn()] = s;
        if (at.function() == 0) {
            multifunction[at.slot()] = isMultifunction;
        }
        f.placed(cycles(s));
        return at;
    }

    /**
     * Places {@code f} behind the bridge at {@code bridgeAt} on bus 0: device 0, function 0 of its
     * secondary bus, the only device a PCI Express link has. {@code hotplugged}: while the machine runs,
     * which the bridge (a hotplug slot) signals to the guest.
     */
    public void addBehind(PciDevFn bridgeAt, PciFunction f, String driver, boolean hotplugged) {
        synchronized (this) {
            Slot b = functions[bridgeAt.devfn()];
            if (b == null || !(b.function instanceof PciBridgeFunction)) {
                throw new IllegalArgumentException("no PCI-to-PCI bridge at 00:" + bridgeAt + " to place " + driver
                        + " behind");
            }
            Slot taken = behind[bridgeAt.devfn()];
            if (taken != null) {
                throw new PciPlacementException("PCI: slot 0 function 0 not available for " + driver + ", in use by "
                        + taken.driver);
            }
            if (f.configSize() != PciRegs.PCI_CFG_SPACE_SIZE && f.configSize() != PciRegs.PCI_CFG_SPACE_EXP_SIZE) {
                throw new IllegalArgumentException(f.name() + " has a config space of " + f.configSize() + " bytes");
            }
            Slot s = new Slot(new PciDevFn(0, 0), f, driver, b);
            behind[bridgeAt.devfn()] = s;
            f.placed(cycles(s));
            ((PciBridgeFunction) b.function).secondaryChanged(true, hotplugged);
        }
    }

    /**
     * Takes the function behind the bridge at {@code bridgeAt} off its bus, its BARs unmapped first;
     * returns it, or null if there was none. The bridge is not told: its own slot logic decided this.
     */
    public synchronized PciFunction removeBehind(PciDevFn bridgeAt) {
        Slot s = behind[bridgeAt.devfn()];
        if (s == null) {
            return null;
        }
        unmapAll(s);
        behind[bridgeAt.devfn()] = null;
        return s.function;
    }

    /** The function behind the bridge at {@code bridgeAt} on bus 0, or null. */
    public synchronized PciFunction behind(PciDevFn bridgeAt) {
        Slot s = behind[bridgeAt.devfn()];
        return s == null ? null : s.function;
    }

    /**
     * Runs {@code task} on this thread once the configuration access under way is over and this
     * bridge's lock is released (at once if none is under way on this thread): how a function's
     * configuration write (a guest powering a hotplug slot off) has the machine take a device apart,
     * which takes locks the bus must not hold.
     */
    public void afterConfigCycle(Runnable task) {
        synchronized (this) {
            if (inCycle == Thread.currentThread()) {
                afterCycle.add(task);
                return;
            }
        }
        task.run();
    }

    private void runAfterCycle() {
        List<Runnable> tasks;
        synchronized (this) {
            if (afterCycle.isEmpty()) {
                return;
            }
            tasks = afterCycle;
            afterCycle = new ArrayList<>();
        }
        for (Runnable t : tasks) {
            t.run();
        }
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
    public int configRead(int devfn, int offset, int size) {
        return configRead(0, devfn, offset, size);
    }

    /** A configuration read of {@code bus} (type 1 beyond bus 0); all-ones from an empty function. */
    public synchronized int configRead(int bus, int devfn, int offset, int size) {
        Slot s = target(bus, devfn);
        if (s == null || !UnsignedRange.fits(offset, size, s.function.configSize()) || offset % size != 0) {
            return (int) AccessSize.allOnes(size);
        }
        int v = s.function.readConfig(offset, size);
        if (s.upstream == null && s.devfn.function() == 0 && multifunction[s.devfn.slot()]
                && UnsignedRange.contains(offset, size, PCI_HEADER_TYPE)) {
            v |= HEADER_TYPE_MULTIFUNCTION << (8 * (PCI_HEADER_TYPE - offset));
        }
        return v;
    }

    /** A configuration write of bus 0; then the function's BARs are placed as the registers now say. */
    public void configWrite(int devfn, int offset, int size, int value) {
        configWrite(0, devfn, offset, size, value);
    }

    /**
     * A configuration write of {@code bus}; then the function's BARs (and, for a bridge, those of the
     * function behind it) are placed as the registers now say.
     */
    public void configWrite(int bus, int devfn, int offset, int size, int value) {
        synchronized (this) {
            write(target(bus, devfn), offset, size, value);
        }
        runAfterCycle();
    }

    /** A configuration write to {@code s} (null: nobody answers), then its BARs placed. Under this bridge's lock. */
    private void write(Slot s, int offset, int size, int value) {
        if (s == null || !UnsignedRange.fits(offset, size, s.function.configSize()) || offset % size != 0) {
            return;
        }
        Thread outer = inCycle;
        inCycle = Thread.currentThread();
        try {
            s.function.writeConfig(offset, size, value);
        } finally {
            inCycle = outer;
        }
        updateMappings(s);
        if (s.upstream == null && behind[s.devfn.devfn()] != null) {
            updateMappings(behind[s.devfn.devfn()]); // the bridge's windows, enables or power changed
        }
    }

    /**
     * The cycles {@code s}'s function is given ({@link PciFunction#placed}): a write to it as a guest's
     * would reach it, whatever bus number its bridge has now; nothing once it is off the bus.
     */
    private PciConfigCycles cycles(Slot s) {
        return (offset, size, value) -> {
            synchronized (this) {
                boolean onBus = s.upstream == null ? functions[s.devfn.devfn()] == s : behind[s.upstream.devfn.devfn()] == s;
                write(onBus ? s : null, offset, size, value);
            }
            runAfterCycle();
        };
    }

    /** The function a cycle for {@code bus}, {@code devfn} reaches, or null. */
    private Slot target(int bus, int devfn) {
        devfn &= 0xFF;
        if (bus == 0) {
            return functions[devfn];
        }
        for (int i = 0; i < functions.length; i++) {
            Slot b = functions[i];
            if (b == null || !(b.function instanceof PciBridgeFunction bridge)) {
                continue;
            }
            int secondary = b.function.readConfig(PciRegs.PCI_SECONDARY_BUS, 1) & 0xFF;
            if (secondary != 0 && secondary == bus) {
                // A root port's link has one device: device 0; and a powered-off slot answers nothing.
                return devfn == 0 && bridge.secondaryPowered() ? behind[i] : null;
            }
        }
        return null;
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
            if (decode && s.upstream != null) {
                // Behind a bridge: only what the bridge forwards, and nothing while the slot has no power.
                decode = ((PciBridgeFunction) s.upstream.function).secondaryPowered()
                        && PciBridgeWindows.forwards(s.upstream.function, bar, address);
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
        List<Slot> all = new ArrayList<>();
        for (int i = 0; i < functions.length; i++) {
            if (behind[i] != null) {
                all.add(behind[i]); // below the bridge first, as a bus reset goes down
            }
        }
        for (Slot s : functions) {
            if (s != null) {
                all.add(s);
            }
        }
        for (Slot s : all) {
            unmapAll(s);
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

    // ---- migration ----

    /** The kind and where its ECAM window is (the guest found it there). */
    @Override
    public String stateId() {
        return "PCI host bridge, ECAM at 0x" + Long.toHexString(ecamBase);
    }

    @Override
    public synchronized byte[] snapshot() {
        return SavedState.writer(STATE_KIND, STATE_VERSION).u32(configAddress).toByteArray();
    }

    /**
     * Loads CONFIG_ADDRESS, then places every function's BARs as its registers say now: call it after
     * every function on the bus and behind its bridges has restored its state.
     */
    @Override
    public void restore(byte[] state) {
        SavedState.Reader in = SavedState.read(state, STATE_KIND, STATE_VERSION);
        int address = in.u32();
        in.end();
        synchronized (this) {
            configAddress = address & 0x80FF_FFFC;
            for (int i = 0; i < functions.length; i++) {
                if (functions[i] != null) {
                    updateMappings(functions[i]);
                }
                if (behind[i] != null) {
                    updateMappings(behind[i]); // after its bridge: the windows are the bridge's registers
                }
            }
        }
    }

    private void unmapAll(Slot s) {
        for (PciBar bar : s.function.bars()) {
            if (s.mapped[bar.index()] != UNMAPPED) {
                s.function.unmapBar(bar);
                s.mapped[bar.index()] = UNMAPPED;
            }
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
                if (configAddress >= 0) {
                    return AccessSize.allOnes(size);
                }
                int reg = (configAddress & 0xFC) + (int) (offset - 4);
                return AccessSize.mask(configRead((configAddress >>> 16) & 0xFF, (configAddress >>> 8) & 0xFF, reg,
                        size), size);
            }
        }

        @Override
        public void write(long offset, int size, long value) {
            int address;
            synchronized (PciHostBridge.this) {
                if (offset == 0 && size == 4) {
                    configAddress = (int) value & 0x80FF_FFFC;
                    return;
                }
                address = configAddress;
            }
            if (offset < 4 || address >= 0) {
                return; // other widths at 0xCF8 are not ours; the enable bit is off
            }
            // Outside the lock: configWrite runs what the write asked for after releasing it.
            configWrite((address >>> 16) & 0xFF, (address >>> 8) & 0xFF, (address & 0xFC) + (int) (offset - 4), size,
                    (int) value);
        }
    }

    /** ECAM: bus (bits 27-20), device and function (19-12), register (11-0). */
    private final class Ecam implements BusDevice {
        @Override
        public long read(long offset, int size) {
            if (size == 8) {
                return -1L;
            }
            return AccessSize.mask(configRead((int) (offset >>> 20) & 0xFF, (int) (offset >>> 12) & 0xFF,
                    (int) (offset & 0xFFF), size), size);
        }

        @Override
        public void write(long offset, int size, long value) {
            if (size != 8) {
                configWrite((int) (offset >>> 20) & 0xFF, (int) (offset >>> 12) & 0xFF, (int) (offset & 0xFFF), size,
                        (int) value);
            }
        }
    }
}
