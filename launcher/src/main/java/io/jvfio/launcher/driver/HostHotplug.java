package io.jvfio.launcher.driver;

import io.jvfio.irq.LocalApic;
import io.jvfio.vmm.pci.PciHostBridge;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import static io.jvfio.vmm.pci.PciRegs.*;

/**
 * The host-side driver's hotplug service, what firmware and an OS's native hotplug driver (Linux's
 * pciehp) do for each hot-plug capable PCI Express root port on bus 0, with the same configuration
 * cycles the guest form makes: each port gets a secondary bus number, its MSI (vector {@link #VECTOR},
 * APIC 0) and the slot's event interrupts (attention button, presence detect changed, command
 * completed, data link layer state changed); then the service waits for that interrupt.
 *
 * <p>Presence detected: the slot is powered on (where it has a power controller; the command is done
 * when Command Completed says so), the data link is waited for, the function at secondary:00.0 is
 * read, its BARs sized, the port's windows opened over a range the service allocates above the start's
 * BARs and the BARs placed in it, and the driver's steps run on it; its block goes to the output.
 * Attention button: the device is quiesced (bus mastering, decode, MSI and MSI-X off), and one Slot
 * Control write turns the power indicator and the slot's power off, as pciehp's remove does; the VMM
 * then takes the device away, and presence detect changed with the slot empty ends it.
 *
 * <p>Every wait is for the port's interrupt, bounded by {@link DriverTarget#WAIT_NANOS}; the slot's
 * status is read and its events cleared (RW1C) before each wait, so that the next event interrupts
 * again (an MSI is sent when some enabled event's status becomes set while none was, PCIe 6.0 6.7.3.4).
 */
public final class HostHotplug implements AutoCloseable {

    /** The ports' hotplug interrupt (a priority class above the device's 0x41 and INTx's 0x51). */
    static final int VECTOR = 0x61;
    /** The 32-bit PCI hole ends at the IOAPIC; windows stay below. */
    static final long MEMORY_TOP = 0xfec0_0000L;
    static final long IO_TOP = PciHostBridge.IO_WINDOW_BASE + PciHostBridge.IO_WINDOW_SIZE;
    /** A bridge's memory window is in 1 MiB units, its I/O window in 4 KiB ones. */
    static final long MEMORY_GRANULE = 1 << 20;
    static final long IO_GRANULE = 0x1000;
    private static final int EVENTS = PCI_EXP_SLTSTA_ABP | PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_CC
            | PCI_EXP_SLTSTA_DLLSC;

    /** One root port and the state of its slot. */
    private static final class Port {
        final int devfn;
        /** Its PCI Express capability. */
        final int exp;
        final int slotCap;
        final boolean linkActiveReporting;
        final int secondary;
        final String name;
        /** The port's windows, once allocated (reused by the next device that fits); limit < base: closed. */
        long memoryBase = -1;
        long memoryLimit = -1;
        long ioBase = -1;
        long ioLimit = -1;
        /** The slot's presence has been handled (driven or not); cleared when it empties. */
        boolean occupied;
        /** The function driven behind the port, or -1. */
        int device = -1;
        boolean removing;
        /** Events cleared while waiting for something else, for the service loop. */
        int pending;

        Port(int devfn, int exp, int slotCap, boolean linkActiveReporting, int secondary) {
            this.devfn = devfn;
            this.exp = exp;
            this.slotCap = slotCap;
            this.linkActiveReporting = linkActiveReporting;
            this.secondary = secondary;
            this.name = HotplugReport.port(devfn, slotCap >>> 19);
        }

        boolean has(int slotCapBit) {
            return (slotCap & slotCapBit) != 0;
        }
    }

    private final HostDriver driver;
    private final Consumer<String> out;
    private final List<Port> ports;
    private final LocalApic apic;
    private final Semaphore interrupts = new Semaphore(0);
    private final LocalApic.Listener listener = (a, vector) -> {
        if (vector == VECTOR) {
            interruptArrived();
        }
    };
    private final Thread thread;
    private volatile boolean closing;
    private long nextMemory;
    private long nextIo;

    private HostHotplug(HostDriver driver, Consumer<String> out, List<Port> ports) {
        this.driver = driver;
        this.out = out;
        this.ports = ports;
        this.apic = driver.bootApic();
        this.nextMemory = align(driver.memoryEnd(), MEMORY_GRANULE);
        this.nextIo = align(driver.ioEnd(), IO_GRANULE);
        this.thread = new Thread(this::serve, "jvfio-hotplug");
        thread.setDaemon(true);
    }

    private void interruptArrived() {
        interrupts.release();
    }

    /**
     * After {@code driver}'s run: sets up every hot-plug capable root port on bus 0 and serves their
     * slots on a thread of its own, each event's words to {@code out}; null when bus 0 has none.
     */
    public static HostHotplug start(HostDriver driver, Consumer<String> out) {
        List<Port> found = new ArrayList<>();
        for (int devfn = 0; devfn < 256; devfn++) {
            if (driver.cfgRead(devfn, PCI_VENDOR_ID, 4) == -1
                    || (driver.cfgRead(devfn, PCI_CLASS_REVISION, 4) >>> 16) != 0x0604
                    || (driver.cfgRead(devfn, PCI_HEADER_TYPE, 1) & 0x7f) != PCI_HEADER_TYPE_BRIDGE) {
                continue;
            }
            int exp = driver.findCapability(devfn, PCI_CAP_ID_EXP);
            if (exp == 0) {
                continue;
            }
            int flags = driver.cfgRead(devfn, exp + PCI_EXP_FLAGS, 2);
            int slotCap = driver.cfgRead(devfn, exp + PCI_EXP_SLTCAP, 4);
            if ((flags & PCI_EXP_FLAGS_TYPE) >>> 4 != PCI_EXP_TYPE_ROOT_PORT || (flags & PCI_EXP_FLAGS_SLOT) == 0
                    || (slotCap & PCI_EXP_SLTCAP_HPC) == 0) {
                continue;
            }
            boolean dlllarc = (driver.cfgRead(devfn, exp + PCI_EXP_LNKCAP, 4) & PCI_EXP_LNKCAP_DLLLARC) != 0;
            found.add(new Port(devfn, exp, slotCap, dlllarc, found.size() + 1));
        }
        if (found.isEmpty()) {
            return null;
        }
        HostHotplug service = new HostHotplug(driver, out, found);
        service.apic.addListener(service.listener);
        List<String> served = new ArrayList<>();
        try {
            for (Port p : found) {
                service.setUp(p);
                served.add(HotplugReport.served(p.devfn, p.slotCap >>> 19, p.secondary));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            service.apic.removeListener(service.listener);
            return null;
        }
        out.accept(HotplugReport.serving(served, VECTOR));
        service.thread.start();
        return service;
    }

    /**
     * As firmware and pciehp's probe: bus numbers (primary 0, secondary and subordinate its own), its
     * windows closed, decode and bus mastering on (a bridge forwards its secondary side's requests
     * upstream, and sends its own MSI, only as a bus master), its MSI aimed at APIC 0, the slot's stale
     * events cleared and its event interrupts enabled. A slot already occupied is handled as a presence
     * detected then.
     */
    private void setUp(Port p) throws InterruptedException {
        int buses = driver.cfgRead(p.devfn, PCI_PRIMARY_BUS, 4);
        driver.cfgWrite(p.devfn, PCI_PRIMARY_BUS, 4, Integer.toUnsignedLong(buses & 0xff00_0000
                | p.secondary << 16 | p.secondary << 8));
        closeWindows(p);
        driver.cfgWrite(p.devfn, PCI_COMMAND, 2, driver.cfgRead(p.devfn, PCI_COMMAND, 2) | PCI_COMMAND_IO
                | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
        int msi = driver.findCapability(p.devfn, PCI_CAP_ID_MSI);
        if (msi != 0) {
            int flags = driver.cfgRead(p.devfn, msi + PCI_MSI_FLAGS, 2);
            driver.cfgWrite(p.devfn, msi + PCI_MSI_ADDRESS_LO, 4, HostDriver.LAPIC_MSI);
            int data = msi + PCI_MSI_DATA_32;
            if ((flags & PCI_MSI_FLAGS_64BIT) != 0) {
                driver.cfgWrite(p.devfn, msi + PCI_MSI_ADDRESS_HI, 4, 0);
                data = msi + PCI_MSI_DATA_64;
            }
            driver.cfgWrite(p.devfn, data, 2, VECTOR);
            driver.cfgWrite(p.devfn, msi + PCI_MSI_FLAGS, 2, (flags & ~PCI_MSI_FLAGS_QSIZE) | PCI_MSI_FLAGS_ENABLE);
        }
        driver.cfgWrite(p.devfn, p.exp + PCI_EXP_SLTSTA, 2, EVENTS);
        int enable = PCI_EXP_SLTCTL_PDCE | PCI_EXP_SLTCTL_HPIE
                | (p.has(PCI_EXP_SLTCAP_ABP) ? PCI_EXP_SLTCTL_ABPE : 0)
                | (p.has(PCI_EXP_SLTCAP_NCCS) ? 0 : PCI_EXP_SLTCTL_CCIE)
                | (p.linkActiveReporting ? PCI_EXP_SLTCTL_DLLSCE : 0);
        command(p, slotControl(p) | enable);
        if ((slotStatus(p) & PCI_EXP_SLTSTA_PDS) != 0) {
            p.pending |= PCI_EXP_SLTSTA_PDC;
        }
    }

    private void serve() {
        try {
            while (!closing) {
                boolean any = false;
                for (Port p : ports) {
                    any |= handle(p);
                }
                if (!any) {
                    interrupts.acquire();
                    interrupts.drainPermits();
                    HostDriver.takeInterrupt(apic);
                }
            }
        } catch (InterruptedException e) {
            // closing
        } catch (RuntimeException e) {
            if (!closing) {
                out.accept("hotplug: the service stopped: " + e.getMessage() + "\n");
            }
        }
    }

    /** One port's events since it was last looked at; false if there were none. */
    private boolean handle(Port p) throws InterruptedException {
        int status = slotStatus(p);
        int events = p.pending | (status & EVENTS);
        p.pending = 0;
        if (events == 0) {
            return false;
        }
        if ((events & PCI_EXP_SLTSTA_ABP) != 0 && p.device >= 0 && !p.removing) {
            remove(p);
        }
        if ((events & (PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC)) != 0) {
            boolean present = (slotStatus(p) & PCI_EXP_SLTSTA_PDS) != 0;
            p.pending &= ~(PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC); // read just now
            if (present && !p.occupied) {
                add(p);
            } else if (!present && p.occupied) {
                if (p.device >= 0) {
                    out.accept(HotplugReport.empty(p.name, p.device));
                }
                p.occupied = false;
                p.device = -1;
                p.removing = false;
            }
        }
        return true;
    }

    /** Presence detected: power, link, the function, its windows and BARs, the steps. */
    private void add(Port p) throws InterruptedException {
        p.occupied = true;
        int how = 0;
        int bdf = p.secondary << 8;
        if (p.has(PCI_EXP_SLTCAP_PCP) || p.has(PCI_EXP_SLTCAP_PIP)) {
            int ctl = slotControl(p) & ~(PCI_EXP_SLTCTL_PCC | PCI_EXP_SLTCTL_PIC) | PCI_EXP_SLTCTL_PWR_ON
                    | (p.has(PCI_EXP_SLTCAP_PIP) ? PCI_EXP_SLTCTL_PWR_IND_ON : 0);
            if (!command(p, ctl)) {
                out.accept(HotplugReport.notUp(p.name, how, HotplugReport.POWER_NOT_COMPLETED, bdf));
                return;
            }
            how |= p.has(PCI_EXP_SLTCAP_PCP) ? HotplugReport.POWERED_ON : HotplugReport.INDICATOR_ON;
        }
        if (p.linkActiveReporting) {
            if (!awaitLinkActive(p)) {
                out.accept(HotplugReport.notUp(p.name, how, HotplugReport.NO_LINK, bdf));
                return;
            }
            how |= HotplugReport.LINK_ACTIVE;
        }
        int ids = driver.cfgRead(bdf, PCI_VENDOR_ID, 4);
        if (ids == -1) {
            out.accept(HotplugReport.notUp(p.name, how, HotplugReport.NO_FUNCTION, bdf));
            return;
        }
        p.device = bdf;
        BarLayout sized = driver.sizeBars(bdf);
        BarLayout bars = allocate(p, sized);
        boolean fits = bars != null;
        if (fits) {
            driver.writeBars(bdf, bars);
            openWindows(p);
        } else {
            bars = sized.placedFrom(0, 0);
        }
        String placed = HotplugReport.placed(GuestDriver.describeBars(bars.memoryBars(), bars.ioBars(), bars.size(),
                bars.address(), bars.ioMask()), p.memoryBase, p.memoryLimit, p.ioBase, p.ioLimit, fits);
        DriverReport report = driver.driveBehindPort(bdf, ids, HotplugReport.found(bdf, ids, p.name), bars, placed,
                fits, driver.target().dmaAt().apply(bdf));
        out.accept(HotplugReport.added(p.name, bdf, how, report));
    }

    /**
     * The BARs placed in the port's windows: the ones it has if they hold them (a device plugged again),
     * else new ones above every window given out so far; null when the host bridge's windows have no
     * room left.
     */
    private BarLayout allocate(Port p, BarLayout sized) {
        if (p.memoryBase >= 0) {
            BarLayout again = sized.placedFrom(p.memoryBase, p.ioBase);
            if (again.memoryEnd(p.memoryBase) <= p.memoryLimit + 1 && again.ioEnd(p.ioBase) <= p.ioLimit + 1) {
                return again;
            }
        }
        BarLayout fresh = sized.placedFrom(nextMemory, nextIo);
        long memoryEnd = align(fresh.memoryEnd(nextMemory), MEMORY_GRANULE);
        long ioEnd = align(fresh.ioEnd(nextIo), IO_GRANULE);
        if (memoryEnd > MEMORY_TOP || ioEnd > IO_TOP) {
            return null;
        }
        p.memoryBase = nextMemory;
        p.memoryLimit = memoryEnd - 1;
        p.ioBase = nextIo;
        p.ioLimit = ioEnd - 1;
        nextMemory = memoryEnd;
        nextIo = ioEnd;
        return fresh;
    }

    /** The port's memory and I/O windows over what {@link #allocate} gave it; the prefetchable one closed. */
    private void openWindows(Port p) {
        boolean memory = p.memoryLimit > p.memoryBase;
        driver.cfgWrite(p.devfn, PCI_MEMORY_BASE, 2, memory ? p.memoryBase >>> 16 & 0xfff0 : 0xfff0);
        driver.cfgWrite(p.devfn, PCI_MEMORY_LIMIT, 2, memory ? p.memoryLimit >>> 16 & 0xfff0 : 0);
        boolean io = p.ioLimit > p.ioBase;
        driver.cfgWrite(p.devfn, PCI_IO_BASE, 1, io ? p.ioBase >>> 8 & 0xf0 : 0xf0);
        driver.cfgWrite(p.devfn, PCI_IO_LIMIT, 1, io ? p.ioLimit >>> 8 & 0xf0 : 0);
        driver.cfgWrite(p.devfn, PCI_IO_BASE_UPPER16, 4, 0);
    }

    /** Base above limit: a window that forwards nothing. */
    private void closeWindows(Port p) {
        driver.cfgWrite(p.devfn, PCI_MEMORY_BASE, 2, 0xfff0);
        driver.cfgWrite(p.devfn, PCI_MEMORY_LIMIT, 2, 0);
        driver.cfgWrite(p.devfn, PCI_PREF_MEMORY_BASE, 2, 0xfff0);
        driver.cfgWrite(p.devfn, PCI_PREF_MEMORY_LIMIT, 2, 0);
        driver.cfgWrite(p.devfn, PCI_PREF_BASE_UPPER32, 4, 0);
        driver.cfgWrite(p.devfn, PCI_PREF_LIMIT_UPPER32, 4, 0);
        driver.cfgWrite(p.devfn, PCI_IO_BASE, 1, 0xf0);
        driver.cfgWrite(p.devfn, PCI_IO_LIMIT, 1, 0);
        driver.cfgWrite(p.devfn, PCI_IO_BASE_UPPER16, 4, 0);
    }

    /**
     * The attention button: the device stops (bus mastering and decode off, its MSI and MSI-X off), then
     * one Slot Control write turns the power indicator off and the power controller off, as pciehp's
     * pciehp_power_off_slot does, and the service waits for the command to complete.
     */
    private void remove(Port p) throws InterruptedException {
        int bdf = p.device;
        driver.cfgWrite(bdf, PCI_COMMAND, 2, driver.cfgRead(bdf, PCI_COMMAND, 2)
                & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER));
        driver.msiOff(bdf);
        int ctl = slotControl(p) & ~PCI_EXP_SLTCTL_PIC | PCI_EXP_SLTCTL_PWR_IND_OFF
                | (p.has(PCI_EXP_SLTCAP_PCP) ? PCI_EXP_SLTCTL_PWR_OFF : 0);
        boolean completed = command(p, ctl);
        p.removing = true;
        out.accept(HotplugReport.removed(p.name, bdf, p.has(PCI_EXP_SLTCAP_PCP), completed));
    }

    private int slotControl(Port p) {
        return driver.cfgRead(p.devfn, p.exp + PCI_EXP_SLTCTL, 2);
    }

    /** Slot Status, its events cleared (write 1 to clear) as they are read; the events are the caller's. */
    private int slotStatus(Port p) {
        int status = driver.cfgRead(p.devfn, p.exp + PCI_EXP_SLTSTA, 2);
        if ((status & EVENTS) != 0) {
            driver.cfgWrite(p.devfn, p.exp + PCI_EXP_SLTSTA, 2, status & EVENTS);
        }
        return status;
    }

    /**
     * Writes Slot Control and, unless the slot says it has no command completed support, waits for
     * Command Completed (its interrupt, bounded); other events seen meanwhile are kept for the loop.
     */
    private boolean command(Port p, int ctl) throws InterruptedException {
        driver.cfgWrite(p.devfn, p.exp + PCI_EXP_SLTCTL, 2, ctl);
        if (p.has(PCI_EXP_SLTCAP_NCCS)) {
            return true;
        }
        return awaitSlot(p, status -> (status & PCI_EXP_SLTSTA_CC) != 0);
    }

    /** The data link layer active (Link Status), bounded; its change interrupts (DLLSCE). */
    private boolean awaitLinkActive(Port p) throws InterruptedException {
        return awaitSlot(p, status -> (driver.cfgRead(p.devfn, p.exp + PCI_EXP_LNKSTA, 2)
                & PCI_EXP_LNKSTA_DLLLA) != 0);
    }

    /**
     * Until {@code done} holds for the slot's status (its events cleared at each look, the ones not
     * wanted kept in {@code pending}), waiting for the port's interrupt between looks, at most
     * {@link DriverTarget#WAIT_NANOS}.
     */
    private boolean awaitSlot(Port p, java.util.function.IntPredicate done) throws InterruptedException {
        long deadline = System.nanoTime() + DriverTarget.WAIT_NANOS;
        while (true) {
            int status = slotStatus(p);
            p.pending |= status & EVENTS & ~PCI_EXP_SLTSTA_CC;
            if (done.test(status)) {
                return true;
            }
            long left = deadline - System.nanoTime();
            if (left <= 0 || closing) {
                return false;
            }
            if (interrupts.tryAcquire(left, TimeUnit.NANOSECONDS)) {
                HostDriver.takeInterrupt(apic);
            }
        }
    }

    private static long align(long value, long granule) {
        return (value + granule - 1) & -granule;
    }

    /** Stops the service: the thread ends (a run of steps under way is cut short) and the listener goes. */
    @Override
    public void close() {
        closing = true;
        driver.stop();
        interrupts.release();
        thread.interrupt();
        try {
            thread.join(TimeUnit.NANOSECONDS.toMillis(DriverTarget.WAIT_NANOS));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        apic.removeListener(listener);
    }
}
