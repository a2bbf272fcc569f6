package io.jvfio.launcher.driver;

import io.jvfio.JvfioException;
import io.jvfio.vfio.DmaAddressing;
import io.jvfio.irq.LocalApic;
import io.jvfio.irq.VirtualInterruptController;
import io.jvfio.memory.GuestRam;
import io.jvfio.vmm.pci.PciHostBridge;
import org.HdrHistogram.Histogram;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.BooleanSupplier;

import static io.jvfio.launcher.driver.GuestDriver.MAILBOX;
import static io.jvfio.vfio.devices.EduRegisters.*;

/**
 * The built-in driver's steps run from the host, in Java, for a machine without a vCPU ({@code -accel
 * none}, or no {@code /dev/kvm}): the same configuration cycles through port 0xCF8/0xCFC, the same
 * MMIO through the address space, the same device model, interrupts arriving at the virtual local
 * APIC. This is how the nested VM, which has no KVM, drives a real device end to end.
 */
public final class HostDriver {

    static final int VECTOR = 0x41;
    static final long LAPIC_MSI = 0xfee0_0000L;
    static final long RAM_SRC = 0x100000;
    static final long RAM_DST = 0x101000;
    static final int DMA_BYTES = 256;
    static final int INTX_VECTOR = 0x51;
    static final int INTX_ROUNDS = 10;
    static final long IOAPIC = 0xfec0_0000L;
    static final int IOAPIC_PINS = 24;
    /**
     * Why the INTx step does not run on a device behind a root port: its INTx would reach the IOAPIC
     * through the port's swizzle and an interrupt routing table (ACPI's _PRT) this machine has not, so
     * no interrupt line names its pin; its interrupts are MSI and MSI-X, as PCI Express devices' are.
     */
    static final String INTX_BEHIND_PORT = "a device behind a root port: no IOAPIC pin is routed to its INTx (that "
            + "takes the port's swizzle and an interrupt routing table); its interrupts are MSI and MSI-X";

    private final DriverTarget t;
    /** APIC 0: INTx's destination. */
    private final LocalApic apic;
    private final LocalApic[] apics;
    /** The device's vector: arrivals at any APIC, and at each. */
    private final AtomicLong interrupts = new AtomicLong();
    private final AtomicLongArray interruptsPerApic;
    private final AtomicLong intxArrivals = new AtomicLong();
    private volatile long lastInterruptNanos;
    private Histogram stormLatency;
    /** The report of the run going on: the start's, or a hot-added device's. */
    private DriverReport report = new DriverReport();
    /** Set when the machine closes under a run of the hotplug service: its waits end. */
    private volatile boolean stopping;
    /** One past the BARs the start placed: where the hotplug service's windows begin. */
    private long memoryEnd = DriverTarget.MMIO_WINDOW;
    private long ioEnd = DriverTarget.IO_WINDOW;

    // The migration step's "guest" (the source's): a thread that leaves state in the device, then keeps
    // writing RAM, its progress in guest RAM where driver.s keeps its own (GuestDriver.MB_*), so that the
    // destination's driver finds it in the RAM loaded there. Paused while the machine stops.
    // Mailbox words the host-side driver keeps as the guest does (driver.s's).
    static final int MB_DEVFN = 0x40;
    static final int MB_IDS = 0x48;
    static final int MB_BAR_ADDR = GuestDriver.MB_BAR_ADDR;
    static final int MB_BAR_SIZE = GuestDriver.MB_BAR_SIZE;
    static final int MB_BAR_IO = GuestDriver.MB_BAR_IO;
    static final int MB_BAR_WIDE = GuestDriver.MB_BAR_WIDE;
    static final int MB_MIG_KIND = 0x618;
    static final int MB_MIG_HAVE = 0x620;
    /** MB_MIG_KIND's bit for "no device state left" (no edu-compatible device driven). */
    static final long NO_DEVICE_CHECKS = 0x100;
    /** How often the soak writes: a write a millisecond (a guest's pace, not a core's). */
    static final long SOAK_PACE_MILLIS = 1;
    /** How long pauseGuest waits for the soak to reach its next write (past the device's wait at most). */
    static final long PAUSE_WAIT_NANOS = DriverTarget.WAIT_NANOS + 5_000_000_000L;

    private enum Soak {
        RUNNING, PAUSE_REQUESTED, PAUSED, MIGRATED, ENDED
    }

    private final Object soakLock = new Object();
    private Soak soak; // guarded by soakLock; null: no migration step started
    private Thread soakThread;
    /** Why the soak's device part failed (it goes on writing RAM; the destination's checks will fail). */
    private volatile String soakFailure;

    public HostDriver(DriverTarget target, VirtualInterruptController apics) {
        this.t = target;
        this.apics = new LocalApic[apics.cpus()];
        this.interruptsPerApic = new AtomicLongArray(apics.cpus());
        for (int i = 0; i < this.apics.length; i++) {
            int id = i;
            this.apics[i] = apics.apic(i);
            this.apics[i].addListener((a, vector) -> {
                if (vector == VECTOR) {
                    lastInterruptNanos = System.nanoTime();
                    interruptsPerApic.incrementAndGet(id);
                    interrupts.incrementAndGet();
                } else if (vector == INTX_VECTOR && id == 0) {
                    intxArrivals.incrementAndGet();
                }
            });
        }
        this.apic = this.apics[0];
    }

    /** What arrived at each APIC, less {@code since} (null: from the start). */
    private long[] perApic(long[] since) {
        long[] n = new long[apics.length];
        for (int i = 0; i < n.length; i++) {
            n[i] = interruptsPerApic.get(i) - (since == null ? 0 : since[i]);
        }
        return n;
    }

    // ---- configuration mechanism #1 ----
    // A function is named by bdf = bus << 8 | devfn, CONFIG_ADDRESS's bits 23:8 shifted down: on bus 0
    // that is the devfn itself; the host bridge routes other buses through the root ports' bus numbers.

    private void select(int bdf, int reg) {
        t.space().out(PciHostBridge.CONFIG_ADDRESS, 4, 0x8000_0000L | bdf << 8 | (reg & 0xFC));
    }

    int cfgRead(int bdf, int reg, int size) {
        select(bdf, reg);
        return (int) t.space().in(PciHostBridge.CONFIG_DATA + (reg & 3), size);
    }

    void cfgWrite(int bdf, int reg, int size, long value) {
        select(bdf, reg);
        t.space().out(PciHostBridge.CONFIG_DATA + (reg & 3), size, value);
    }

    int findCapability(int bdf, int id) {
        for (int at = cfgRead(bdf, 0x34, 1) & 0xFC, guard = 0; at != 0 && guard < 48; guard++) {
            int header = cfgRead(bdf, at, 2);
            if ((header & 0xFF) == id) {
                return at;
            }
            at = (header >>> 8) & 0xFC;
        }
        return 0;
    }

    private boolean await(BooleanSupplier condition) {
        return await(condition, DriverTarget.WAIT_NANOS);
    }

    /** Waits for {@code condition}, bounded; a device gone meanwhile ends the run (it never comes true). */
    private boolean await(BooleanSupplier condition, long nanos) {
        long deadline = System.nanoTime() + nanos;
        while (!condition.getAsBoolean()) {
            t.checkGone();
            if (stopping) {
                throw new DriverTarget.DeviceGoneException("the machine is closing");
            }
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.onSpinWait();
        }
        return true;
    }

    /**
     * Runs every step and returns what each found. A device that goes away during the run (its
     * server stops answering or leaves, or the memory behind its mapped BAR vanishes) ends it with a
     * {@link DriverTarget.DeviceGoneException} that says why.
     */
    public DriverReport run() {
        return running(this::steps);
    }

    private DriverReport running(Runnable steps) {
        try {
            steps.run();
            t.checkGone();
            return report;
        } catch (InternalError e) {
            // The file behind a mapped BAR area shrank: a direct access took a SIGBUS.
            if (!DriverTarget.isMappedMemoryFault(e)) {
                throw e;
            }
            throw t.mappedMemoryFault("a host-side access faulted (SIGBUS)");
        } catch (RuntimeException e) {
            if (e instanceof DriverTarget.DeviceGoneException || t.watch().gone() == null) {
                throw e;
            }
            throw new DriverTarget.DeviceGoneException(t.watch().gone() + "; the run stops");
        }
    }

    private void steps() {
        // ---- find ----
        int present = 0;
        int firstEdu = -1;
        for (int devfn = 0; devfn < 256; devfn++) {
            int ids = cfgRead(devfn, 0, 4);
            if (ids != -1) {
                present++;
                if (ids == 0x11e81234 && firstEdu < 0) {
                    firstEdu = devfn;
                }
            }
        }
        int devfn = t.device() != null ? t.device().devfn() : firstEdu;
        int ids = devfn < 0 ? -1 : cfgRead(devfn, 0, 4);
        if (ids == -1) {
            t.checkGone();
            report.add(StepResult.fail(DriverStep.FIND, present + " functions on bus 0, none to drive"
                    + (t.device() != null ? " at " + t.device() : " (no edu-compatible 1234:11e8)")));
            return;
        }
        report.add(StepResult.pass(DriverStep.FIND, GuestDriver.describeFind(devfn, ids, present)));

        // ---- BARs ----
        BarLayout bars = sizeBars(devfn).placedFrom(DriverTarget.MMIO_WINDOW, DriverTarget.IO_WINDOW);
        writeBars(devfn, bars);
        keep(devfn, ids, bars);
        report.add(StepResult.pass(DriverStep.BARS, GuestDriver.describeBars(bars.memoryBars(), bars.ioBars(),
                bars.size(), bars.address(), bars.ioMask())));
        memoryEnd = bars.memoryEnd(DriverTarget.MMIO_WINDOW);
        ioEnd = bars.ioEnd(DriverTarget.IO_WINDOW);
        enableAndDrive(devfn, ids, bars, t.dma(), () -> t.loopTargets(devfn), true);
    }

    /**
     * The steps on a function the hotplug service found behind a root port, sized, placed (its BARs
     * written, the port's windows opened over them) and described by the service: {@code find} and
     * {@code bars} as the service says, then steps 3 to 11 as at the start, with the DMA addressing of the
     * device's back end; INTx is skipped ({@link #INTX_BEHIND_PORT}). Each run has a report of its own.
     */
    DriverReport driveBehindPort(int bdf, int ids, String found, BarLayout bars, String placed, boolean fits,
                                 DmaAddressing dma) {
        report = new DriverReport();
        try {
            report.add(StepResult.pass(DriverStep.FIND, found));
            report.add(StepResult.check(DriverStep.BARS, fits, placed));
            if (fits) {
                enableAndDrive(bdf, ids, bars, dma, () -> t.loopTargets(bars), false);
            }
            return report;
        } catch (InternalError e) {
            if (!DriverTarget.isMappedMemoryFault(e)) {
                throw e;
            }
            report.failure("a host-side access faulted (SIGBUS): the memory behind a directly mapped BAR is gone");
            return report;
        }
    }

    /** One past the memory and the I/O the start's BARs took: the hotplug service allocates above them. */
    long memoryEnd() {
        return memoryEnd;
    }

    long ioEnd() {
        return ioEnd;
    }

    /** Ends the waits of a run under way (the hotplug service's, as the machine closes). */
    void stop() {
        stopping = true;
        synchronized (soakLock) {
            soakLock.notifyAll(); // a soak waiting between its writes ends
        }
    }

    /** APIC 0, where the hotplug service aims its root ports' interrupts. */
    LocalApic bootApic() {
        return apic;
    }

    DriverTarget target() {
        return t;
    }

    /**
     * Sizes function {@code bdf}'s six BARs (all-ones written, the size mask read back); none is placed
     * yet. An I/O BAR's size is the lowest writable address bit among the 16 of an x86 port (the upper
     * half of the register may read 0 or all-ones).
     */
    BarLayout sizeBars(int bdf) {
        long[] size = new long[6];
        int ioMask = 0;
        int wideMask = 0;
        for (int i = 0; i < 6; i++) {
            int reg = 0x10 + 4 * i;
            cfgWrite(bdf, reg, 4, 0xFFFF_FFFFL);
            int v = cfgRead(bdf, reg, 4);
            if (v == 0) {
                continue;
            }
            if ((v & 1) != 0) {
                int mask = v & 0xFFFC;
                if (mask != 0) {
                    size[i] = mask & -mask;
                    ioMask |= 1 << i;
                }
                continue;
            }
            boolean is64 = (v & 6) == 4;
            long mask = Integer.toUnsignedLong(v & 0xFFFF_FFF0);
            if (is64) {
                cfgWrite(bdf, reg + 4, 4, 0xFFFF_FFFFL);
                mask |= Integer.toUnsignedLong(cfgRead(bdf, reg + 4, 4)) << 32;
                wideMask |= 1 << i;
            } else {
                mask |= 0xFFFF_FFFF_0000_0000L;
            }
            size[i] = -mask;
            if (is64) {
                i++;
            }
        }
        return new BarLayout(size, new long[6], ioMask, wideMask);
    }

    /** Writes each placed BAR's address (both halves of a 64-bit one). */
    void writeBars(int bdf, BarLayout bars) {
        for (int i = 0; i < 6; i++) {
            if (bars.size()[i] == 0) {
                continue;
            }
            int reg = 0x10 + 4 * i;
            cfgWrite(bdf, reg, 4, bars.address()[i] & 0xFFFF_FFFFL);
            if (bars.isWide(i)) {
                cfgWrite(bdf, reg + 4, 4, bars.address()[i] >>> 32);
            }
        }
    }

    /**
     * Steps 3 to 12 on function {@code bdf} whose BARs are placed: decode for the kinds of BAR placed and
     * bus mastering, edu's steps (with {@code dma}, the addresses the device sees guest RAM at), the timed
     * loops where {@code where} says once decode is on, INTx if {@code intx} (else skipped with
     * {@link #INTX_BEHIND_PORT}).
     */
    private void enableAndDrive(int bdf, int ids, BarLayout bars, DmaAddressing dma,
                                java.util.function.Supplier<DriverTarget.LoopTargets> where, boolean intx) {
        int wanted = 0x4 | (bars.memoryBars() > 0 ? 0x2 : 0) | (bars.ioBars() > 0 ? 0x1 : 0);
        cfgWrite(bdf, 4, 2, cfgRead(bdf, 4, 2) | wanted);
        int command = cfgRead(bdf, 4, 2);
        DriverTarget.LoopTargets targets = where.get(); // with decode on: what traps and what is mapped now
        report.add(StepResult.check(DriverStep.ENABLE, (command & wanted) == wanted,
                GuestDriver.describeEnable(command, wanted, targets)));

        boolean edu = ids == 0x11e81234;
        if (!edu) {
            for (DriverStep s : DriverStep.values()) {
                if (s.needsEdu()) {
                    report.add(StepResult.skip(s, GuestDriver.notEdu(ids)));
                }
            }
        } else {
            eduSteps(bdf, bars.address()[0], bars.address(), dma);
        }
        if (targets.trappedIsPort()) {
            timedPortLoop(targets.trapped());
        } else {
            timedLoop(DriverStep.TRAPPED, targets.trapped(), targets.noTrapped(), "trapped MMIO read (host-side)");
        }
        timedLoop(DriverStep.DIRECT, targets.direct(), targets.noDirect(), "directly mapped read (host-side)");
        if (intx) {
            intx(bdf, ids);
        } else {
            report.add(StepResult.skip(DriverStep.INTX, INTX_BEHIND_PORT));
        }
        if (stormLatency != null) {
            report.addLatency("interrupt (raise -> APIC)", stormLatency);
            stormLatency = null;
        }
    }

    private void eduSteps(int devfn, long bar0, long[] barAddress, DmaAddressing dma) {
        long id = t.space().read(bar0 + ID, 4);
        report.add(StepResult.check(DriverStep.ID, id == ID_VALUE, String.format("read 0x%08x", id)));

        t.space().write(bar0 + LIVENESS, 4, 0x5a5aa5a5L);
        long live = t.space().read(bar0 + LIVENESS, 4);
        report.add(StepResult.check(DriverStep.LIVENESS, live == 0xa5a55a5aL, String.format("wrote 0x5a5aa5a5, read "
                + "0x%08x", live)));

        t.space().write(bar0 + FACTORIAL, 4, 10);
        await(() -> (t.space().read(bar0 + STATUS, 4) & STATUS_COMPUTING) == 0);
        long fact = t.space().read(bar0 + FACTORIAL, 4);
        report.add(StepResult.check(DriverStep.FACTORIAL, fact == 3628800, "10! = " + fact));

        byte[] pattern = new byte[DMA_BYTES];
        for (int i = 0; i < DMA_BYTES; i++) {
            pattern[i] = (byte) (i * 7 + 3);
        }
        t.memory().ram().write(RAM_SRC, pattern, 0, DMA_BYTES);
        byte[] fill = new byte[DMA_BYTES];
        java.util.Arrays.fill(fill, (byte) 0xee);
        t.memory().ram().write(RAM_DST, fill, 0, DMA_BYTES);
        // The device is given the DMA addresses its back end says it sees the two buffers at: their guest
        // physical addresses through an IOMMU or a vfio-user peer, host physical ones in no-IOMMU mode.
        long src = 0;
        long dst = 0;
        boolean addressed = false;
        try {
            src = dma.dmaAddress(RAM_SRC, DMA_BYTES);
            dst = dma.dmaAddress(RAM_DST, DMA_BYTES);
            addressed = true;
        } catch (JvfioException e) {
            report.add(StepResult.fail(DriverStep.DMA, "no DMA address for the buffers: " + e.getMessage()));
        }
        if (addressed) {
            dma(bar0, src, DMA_BUFFER, DMA_CMD_RUN);
            dma(bar0, DMA_BUFFER, dst, DMA_CMD_RUN | DMA_CMD_TO_RAM);
            byte[] back = new byte[DMA_BYTES];
            t.memory().ram().read(RAM_DST, back, 0, DMA_BYTES);
            int equal = java.util.Arrays.mismatch(pattern, back);
            String how = src == RAM_SRC && dst == RAM_DST ? ""
                    : String.format(" (DMA addresses 0x%x and 0x%x: %s)", src, dst, dma.describe());
            report.add(StepResult.check(DriverStep.DMA, equal < 0, GuestDriver.describeDma(equal < 0 ? DMA_BYTES
                    : equal, DMA_BYTES) + how));
        }

        // ---- one interrupt: MSI-X if the device has it, else MSI ----
        Interrupt irq = enableInterrupt(devfn, barAddress);
        if (irq == null) {
            report.add(StepResult.fail(DriverStep.INTERRUPT, "the device has neither MSI-X nor MSI"));
            report.add(StepResult.skip(DriverStep.STORM, "no interrupt to storm with"));
            return;
        }
        String kind = irq.kind();
        long msixEntry = irq.msixEntry();
        int msi = irq.msi();
        // One aimed at each APIC in turn, as the guest driver does.
        interrupts.set(0);
        for (int i = 0; i < apics.length; i++) {
            interruptsPerApic.set(i, 0); // from 0 on each run (a hot-added device's after the start's)
        }
        boolean came = true;
        for (int target = 0; target < apics.length; target++) {
            aim(devfn, msixEntry, msi, target);
            long expected = target + 1;
            t.space().write(bar0 + IRQ_RAISE, 4, 1);
            came &= await(() -> interrupts.get() >= expected);
            takeInterrupt(apics[target]);
            t.space().write(bar0 + IRQ_ACK, 4, 1);
        }
        long[] afterOne = perApic(null);
        boolean eachOne = java.util.Arrays.stream(afterOne).allMatch(n -> n == 1);
        report.add(StepResult.check(DriverStep.INTERRUPT, came && eachOne && interrupts.get() == apics.length,
                GuestDriver.describeInterrupt(kind, interrupts.get(), "the local APIC", afterOne)));

        // ---- the storm, one at a time, each timed from the raise to its arrival ----
        Histogram latency = new Histogram(10_000_000_000L, 3);
        long counted = 0;
        long raised = (long) DriverTarget.INTERRUPTS * apics.length;
        storm:
        for (int target = 0; target < apics.length; target++) {
            aim(devfn, msixEntry, msi, target);
            for (int i = 0; i < DriverTarget.INTERRUPTS; i++) {
                long before = interrupts.get();
                long start = System.nanoTime();
                t.space().write(bar0 + IRQ_RAISE, 4, 1);
                if (!await(() -> interrupts.get() > before)) {
                    break storm;
                }
                latency.recordValue(Math.max(0, lastInterruptNanos - start));
                takeInterrupt(apics[target]);
                t.space().write(bar0 + IRQ_ACK, 4, 1);
                counted++;
            }
        }
        long[] stormed = perApic(afterOne);
        boolean each = java.util.Arrays.stream(stormed).allMatch(n -> n == DriverTarget.INTERRUPTS);
        long inStorm = interrupts.get() - apics.length;
        report.add(StepResult.check(DriverStep.STORM, counted == raised && inStorm == raised && each,
                GuestDriver.describeStorm(raised, inStorm, "at the local APIC", stormed)));
        stormLatency = latency;
    }

    /** The device's interrupt as {@link #enableInterrupt} set it up: MSI-X's entry 0 (else -1), or MSI's capability. */
    private record Interrupt(String kind, long msixEntry, int msi) {
        /** driver.s's code for it: 1 MSI-X, 2 MSI. */
        int code() {
            return msixEntry >= 0 ? 1 : 2;
        }
    }

    /**
     * Function {@code devfn}'s VECTOR aimed at APIC 0 and enabled, MSI-X entry 0 if it has MSI-X, else
     * MSI, as step 8 does; null if it has neither.
     */
    private Interrupt enableInterrupt(int devfn, long[] barAddress) {
        int msix = findCapability(devfn, 0x11);
        if (msix != 0) {
            int table = cfgRead(devfn, msix + 4, 4);
            long entry = barAddress[table & 7] + (table & ~7);
            t.space().write(entry, 4, LAPIC_MSI);
            t.space().write(entry + 4, 4, 0);
            t.space().write(entry + 8, 4, VECTOR);
            t.space().write(entry + 12, 4, 0);
            cfgWrite(devfn, msix + 2, 2, cfgRead(devfn, msix + 2, 2) | 0x8000);
            return new Interrupt("MSI-X", entry, 0);
        }
        int msi = findCapability(devfn, 0x05);
        if (msi == 0) {
            return null;
        }
        int flags = cfgRead(devfn, msi + 2, 2);
        cfgWrite(devfn, msi + 4, 4, LAPIC_MSI);
        int data = msi + 8;
        if ((flags & 0x80) != 0) {
            cfgWrite(devfn, msi + 8, 4, 0);
            data = msi + 12;
        }
        cfgWrite(devfn, data, 2, VECTOR);
        cfgWrite(devfn, msi + 2, 2, flags | 1);
        return new Interrupt("MSI", -1, msi);
    }

    // ---- the migration step ----

    /** The start's device in the mailbox, as driver.s keeps it: its function, IDs and BARs. */
    private void keep(int devfn, int ids, BarLayout bars) {
        GuestRam ram = t.memory().ram();
        ram.writeU64(MAILBOX + MB_DEVFN, devfn);
        ram.writeU64(MAILBOX + MB_IDS, Integer.toUnsignedLong(ids));
        for (int i = 0; i < 6; i++) {
            ram.writeU64(MAILBOX + MB_BAR_ADDR + 8L * i, bars.address()[i]);
            ram.writeU64(MAILBOX + MB_BAR_SIZE + 8L * i, bars.size()[i]);
        }
        ram.writeU64(MAILBOX + MB_BAR_IO, bars.ioMask());
        ram.writeU64(MAILBOX + MB_BAR_WIDE, bars.wideMask());
        ram.writeU64(MAILBOX + MB_MIG_HAVE, 1);
    }

    /** The start's BARs as {@link #keep} left them in guest RAM. */
    private static BarLayout kept(GuestRam ram) {
        long[] sizes = new long[6];
        long[] addresses = new long[6];
        for (int i = 0; i < 6; i++) {
            sizes[i] = ram.readU64(MAILBOX + MB_BAR_SIZE + 8L * i);
            addresses[i] = ram.readU64(MAILBOX + MB_BAR_ADDR + 8L * i);
        }
        return new BarLayout(sizes, addresses, (int) ram.readU64(MAILBOX + MB_BAR_IO),
                (int) ram.readU64(MAILBOX + MB_BAR_WIDE));
    }

    /**
     * On the source, as a migration starts, after {@link #run}: the migration step's "guest" starts on a
     * thread of its own. It leaves state in edu (liveness, a factorial, a pattern DMAed into its buffer,
     * its interrupt on), then keeps writing RAM as driver.s does (iteration k writes k + 1 into page k mod
     * {@link GuestDriver#MIGRATION_PAGES} of {@link GuestDriver#MIGRATION_SOAK}, and k into
     * {@link GuestDriver#MIGRATION_PROGRESS}) until {@link #pauseGuest}, and again after {@link #resumeGuest}.
     * Asked again while it is under way (a migration tried again after one that failed), it goes on.
     */
    public void migrationStarting() {
        synchronized (soakLock) {
            if (soak == Soak.RUNNING) {
                return; // a migration tried again after one that failed: the step goes on, as the guest's does
            }
            if (soak == Soak.PAUSE_REQUESTED || soak == Soak.PAUSED) {
                soak = Soak.RUNNING;
                soakLock.notifyAll();
                return;
            }
            soak = Soak.RUNNING;
            soakFailure = null;
            soakThread = new Thread(this::soak, "jvfio-migration-guest");
            soakThread.setDaemon(true);
            soakThread.start();
        }
    }

    /**
     * The machine stops for the migration's last round: returns once the soak is between two writes and
     * waits there (guest RAM and the device stay as they are until {@link #resumeGuest} or the end).
     * Without a migration step under way, nothing to do.
     */
    public void pauseGuest() throws InterruptedException {
        synchronized (soakLock) {
            if (soak != Soak.RUNNING) {
                return;
            }
            soak = Soak.PAUSE_REQUESTED;
            soakLock.notifyAll();
            long deadline = System.nanoTime() + PAUSE_WAIT_NANOS;
            while (soak == Soak.PAUSE_REQUESTED) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new IllegalStateException("the driver's migration step did not pause within "
                            + PAUSE_WAIT_NANOS / 1_000_000_000L + " s");
                }
                java.util.concurrent.TimeUnit.NANOSECONDS.timedWait(soakLock, left);
            }
        }
    }

    /** The machine runs on (the migration failed or was cancelled): the soak writes again. */
    public void resumeGuest() {
        synchronized (soakLock) {
            if (soak == Soak.PAUSE_REQUESTED || soak == Soak.PAUSED) {
                soak = Soak.RUNNING;
                soakLock.notifyAll();
            }
        }
    }

    /**
     * The machine now runs elsewhere (or, in a test, this machine runs as the destination): the soak ends
     * without another write, and is awaited.
     */
    public void migratedAway() throws InterruptedException {
        Thread thread;
        synchronized (soakLock) {
            if (soak == null || soak == Soak.ENDED) {
                return;
            }
            soak = Soak.MIGRATED;
            soakLock.notifyAll();
            thread = soakThread;
        }
        thread.join();
    }

    private void soak() {
        GuestRam ram = t.memory().ram();
        try {
            leaveState(ram);
        } catch (RuntimeException e) {
            soakFailure = e.getMessage();
        }
        try {
            for (long k = 0; ; k++) {
                ram.writeU64(GuestDriver.MIGRATION_SOAK + (k % GuestDriver.MIGRATION_PAGES) * 4096, k + 1);
                ram.writeU64(GuestDriver.MIGRATION_PROGRESS, k);
                synchronized (soakLock) {
                    if (soak == Soak.RUNNING && !stopping) {
                        soakLock.wait(SOAK_PACE_MILLIS); // the guest's pace; a pause request ends it at once
                    }
                    while ((soak == Soak.PAUSE_REQUESTED || soak == Soak.PAUSED) && !stopping) {
                        soak = Soak.PAUSED;
                        soakLock.notifyAll();
                        soakLock.wait();
                    }
                    if (soak == Soak.MIGRATED || stopping) {
                        return;
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            synchronized (soakLock) {
                soak = Soak.ENDED;
                soakLock.notifyAll();
            }
        }
    }

    /** The migration step's part (a): the state left in edu, and its interrupt on; in the mailbox, which. */
    private void leaveState(GuestRam ram) {
        BarLayout bars = kept(ram);
        int devfn = (int) ram.readU64(MAILBOX + MB_DEVFN);
        int ids = (int) ram.readU64(MAILBOX + MB_IDS);
        if (ram.readU64(MAILBOX + MB_MIG_HAVE) == 0 || ids != 0x11e81234) {
            ram.writeU64(MAILBOX + MB_MIG_KIND, NO_DEVICE_CHECKS);
            return;
        }
        long bar0 = bars.address()[0];
        t.space().write(bar0 + LIVENESS, 4, Integer.toUnsignedLong(GuestDriver.MIGRATION_LIVENESS));
        t.space().write(bar0 + FACTORIAL, 4, GuestDriver.MIGRATION_FACTORIAL);
        await(() -> (t.space().read(bar0 + STATUS, 4) & STATUS_COMPUTING) == 0);
        ram.write(GuestDriver.MIGRATION_SRC, migrationPattern(), 0, DMA_BYTES);
        dma(bar0, t.dma().dmaAddress(GuestDriver.MIGRATION_SRC, DMA_BYTES), GuestDriver.MIGRATION_BUFFER, DMA_CMD_RUN);
        Interrupt irq = enableInterrupt(devfn, bars.address());
        ram.writeU64(MAILBOX + MB_MIG_KIND, irq == null ? 0 : irq.code());
    }

    /** The migration step's DMA pattern, driver.s's mig_pattern: byte i = i * 13 + 0x5b. */
    static byte[] migrationPattern() {
        byte[] p = new byte[DMA_BYTES];
        for (int i = 0; i < DMA_BYTES; i++) {
            p[i] = (byte) (i * 13 + 0x5b);
        }
        return p;
    }

    /**
     * On a migration's destination (or, in a test, the source again), with guest RAM loaded: the migration
     * step's checks from the progress and state the source's driver left in RAM (RAM as left, edu as left,
     * an interrupt still arrives), then steps 3 to 12 again on the start's device. The report holds
     * {@link DriverStep#MIGRATION} and the steps after it.
     */
    public DriverReport resumeMigrated() {
        report = DriverReport.afterMigration();
        return running(this::migrated);
    }

    private void migrated() {
        GuestRam ram = t.memory().ram();
        long last = ram.readU64(GuestDriver.MIGRATION_PROGRESS);
        long kindWord = ram.readU64(MAILBOX + MB_MIG_KIND);
        boolean have = ram.readU64(MAILBOX + MB_MIG_HAVE) != 0;
        int devfn = (int) ram.readU64(MAILBOX + MB_DEVFN);
        int ids = (int) ram.readU64(MAILBOX + MB_IDS);
        BarLayout bars = kept(ram);
        if (have) { // the hotplug service's windows go above the start's BARs, as on the source
            memoryEnd = bars.memoryEnd(DriverTarget.MMIO_WINDOW);
            ioEnd = bars.ioEnd(DriverTarget.IO_WINDOW);
        }
        boolean edu = (kindWord & NO_DEVICE_CHECKS) == 0;
        int kind = (int) kindWord & 0xff;
        int failed = 0;
        long detail = 0;
        // (1) RAM: the last min(k, pages - 1) + 1 iterations' pages hold what each wrote.
        for (long i = 0; i <= Math.min(last, GuestDriver.MIGRATION_PAGES - 1); i++) {
            long page = Math.floorMod(last - i, GuestDriver.MIGRATION_PAGES);
            if (ram.readU64(GuestDriver.MIGRATION_SOAK + page * 4096) != last - i + 1) {
                failed = GuestDriver.MIGRATION_RAM;
                detail = page;
                break;
            }
        }
        long bar0 = bars.address()[0];
        if (failed == 0 && edu) {
            // (2) edu as left.
            long live = t.space().read(bar0 + LIVENESS, 4);
            long fact = t.space().read(bar0 + FACTORIAL, 4);
            if (live != (~GuestDriver.MIGRATION_LIVENESS & 0xFFFF_FFFFL)) {
                failed = GuestDriver.MIGRATION_LIVENESS_CHECK;
                detail = live;
            } else if (fact != GuestDriver.MIGRATION_FACTORIAL_OF) {
                failed = GuestDriver.MIGRATION_FACTORIAL_CHECK;
                detail = fact;
            } else {
                byte[] fill = new byte[DMA_BYTES];
                java.util.Arrays.fill(fill, (byte) 0xee);
                ram.write(GuestDriver.MIGRATION_DST, fill, 0, DMA_BYTES);
                dma(bar0, GuestDriver.MIGRATION_BUFFER, t.dma().dmaAddress(GuestDriver.MIGRATION_DST, DMA_BYTES),
                        DMA_CMD_RUN | DMA_CMD_TO_RAM);
                byte[] back = new byte[DMA_BYTES];
                ram.read(GuestDriver.MIGRATION_DST, back, 0, DMA_BYTES);
                int differs = java.util.Arrays.mismatch(migrationPattern(), back);
                if (differs >= 0) {
                    failed = GuestDriver.MIGRATION_DMA;
                    detail = differs;
                }
            }
            // (3) an interrupt, on the route left before the migration.
            if (failed == 0) {
                long before = interrupts.get();
                t.space().write(bar0 + IRQ_RAISE, 4, 1);
                boolean came = kind != 0 && await(() -> interrupts.get() > before);
                takeInterrupt(apic);
                t.space().write(bar0 + IRQ_ACK, 4, 1);
                if (!came) {
                    failed = GuestDriver.MIGRATION_INTERRUPT;
                }
            }
        }
        String words = GuestDriver.describeMigration(last, failed, detail, kind, edu);
        String why = soakFailure;
        report.add(StepResult.check(DriverStep.MIGRATION, failed == 0, why == null ? words
                : words + " (the source's driver could not leave the device's state: " + why + ")"));
        if (have) {
            enableAndDrive(devfn, ids, bars, t.dma(), () -> t.loopTargets(devfn), true);
        }
    }

    /** How the intx step makes a device assert INTx, sees it pending, and makes it drop the line. */
    private sealed interface IntxRecipe {
        /** edu and the GPIO card: 32-bit registers, write 1 to raise and to acknowledge, status bit 0. */
        record Registers(int raise, int acknowledge, int status) implements IntxRecipe {
        }

        /**
         * An 8250-compatible UART in I/O BAR0 (16550 and its kin): THR-empty, signalled when its enable
         * in IER rises while the holding register is empty (it is: nothing is sent); an IIR read that
         * identifies THR-empty clears it. Byte accesses, the register width.
         */
        record Uart() implements IntxRecipe {
            static final int IER = 1;
            static final int IIR = 2;
            static final int IER_THRI = 0x02;
            /** IIR bits 3..0: an interrupt pending (bit 0 clear), its source THR empty. */
            static final int IIR_THRI = 0x02;
        }
    }

    /**
     * The recipe for edu, the GPIO card, or a serial controller whose programming interface is
     * 8250-compatible (PCI class 07 00, interface 00-06: 8250, 16450, 16550 ... 16950) with its
     * registers in I/O BAR0 (a memory-mapped UART's register stride is the vendor's choice); null
     * for anything else.
     */
    private IntxRecipe intxRecipe(int devfn, int ids) {
        if (ids == 0x11e81234) {
            return new IntxRecipe.Registers(IRQ_RAISE, IRQ_ACK, IRQ_STATUS);
        }
        if (ids == 0x10f01234) {
            return new IntxRecipe.Registers(0x0c, 0x08, 0x08);
        }
        int classCode = cfgRead(devfn, 0x08, 4) >>> 8;
        if (classCode >= 0x070000 && classCode <= 0x070006 && (cfgRead(devfn, 0x10, 4) & 1) != 0) {
            return new IntxRecipe.Uart();
        }
        return null;
    }

    /**
     * INTx through the IOAPIC, as driver.s does it: MSI-X and MSI off, the IOAPIC entry of the pin the
     * interrupt line register names programmed level-triggered with INTX_VECTOR, then INTX_ROUNDS
     * interrupts raised one at a time, each handled as an IDT handler would (acknowledge at the local
     * APIC, check and clear the device's status so its line drops, EOI) and counted exactly once.
     */
    private void intx(int devfn, int ids) {
        int lineAndPin = cfgRead(devfn, 0x3c, 2);
        int line = lineAndPin & 0xFF;
        int pin = lineAndPin >>> 8 & 0xFF;
        if (pin == 0) {
            report.add(StepResult.skip(DriverStep.INTX, GuestDriver.intxNotRun(2, ids, lineAndPin)));
            return;
        }
        IntxRecipe recipe = intxRecipe(devfn, ids);
        if (recipe == null) {
            report.add(StepResult.skip(DriverStep.INTX, GuestDriver.intxNotRun(1, ids, 0)));
            return;
        }
        if (line >= IOAPIC_PINS) {
            report.add(StepResult.fail(DriverStep.INTX, GuestDriver.intxNotRun(3, ids, lineAndPin)));
            return;
        }
        msiOff(devfn);
        int bar0 = cfgRead(devfn, 0x10, 4);
        boolean io = (bar0 & 1) != 0;
        long base = Integer.toUnsignedLong(bar0 & (io ? ~3 : ~0xF));
        cfgWrite(devfn, 4, 2, (cfgRead(devfn, 4, 2) | (io ? 1 : 2)) & ~0x400);
        t.space().write(IOAPIC, 4, 0x11 + 2 * line);
        t.space().write(IOAPIC + 0x10, 4, 0); // destination APIC 0
        t.space().write(IOAPIC, 4, 0x10 + 2 * line);
        t.space().write(IOAPIC + 0x10, 4, 0x8000 | INTX_VECTOR); // fixed, level, active high, unmasked

        intxArrivals.set(0);
        int raised = 0;
        long spurious = 0;
        while (raised < INTX_ROUNDS) {
            long before = intxArrivals.get();
            raised++;
            raise(recipe, io, base);
            if (!await(() -> intxArrivals.get() > before)) {
                break;
            }
            int vector = apic.acknowledge();
            if (!pendingThenAcknowledge(recipe, io, base) || vector != INTX_VECTOR) {
                spurious++;
            }
            apic.endOfInterrupt();
        }
        // A while longer: an interrupt delivered twice would arrive now.
        await(() -> intxArrivals.get() > INTX_ROUNDS, DriverTarget.SETTLE_NANOS);
        if (recipe instanceof IntxRecipe.Uart) {
            t.space().out((int) base + IntxRecipe.Uart.IER, 1, 0); // its interrupts off, as a driver leaves it
        }
        long counted = intxArrivals.get();
        report.add(StepResult.check(DriverStep.INTX, raised == INTX_ROUNDS && counted == INTX_ROUNDS && spurious == 0,
                GuestDriver.describeIntx(raised, counted, line, pin, io, spurious, 0,
                        "the local APIC")));
    }

    /** Function {@code bdf}'s MSI-X and MSI enables off (before the INTx step, and at removal). */
    void msiOff(int bdf) {
        int msix = findCapability(bdf, 0x11);
        if (msix != 0) {
            cfgWrite(bdf, msix + 2, 2, cfgRead(bdf, msix + 2, 2) & 0x7FFF);
        }
        int msi = findCapability(bdf, 0x05);
        if (msi != 0) {
            cfgWrite(bdf, msi + 2, 2, cfgRead(bdf, msi + 2, 2) & 0xFFFE);
        }
    }

    private void raise(IntxRecipe recipe, boolean io, long base) {
        if (recipe instanceof IntxRecipe.Registers r) {
            register(io, base + r.raise(), 1);
        } else {
            t.space().out((int) base + IntxRecipe.Uart.IER, 1, 0);
            t.space().out((int) base + IntxRecipe.Uart.IER, 1, IntxRecipe.Uart.IER_THRI);
        }
    }

    /** Whether the device asserts its interrupt; either way it is acknowledged, so its line drops. */
    private boolean pendingThenAcknowledge(IntxRecipe recipe, boolean io, long base) {
        if (recipe instanceof IntxRecipe.Registers r) {
            boolean pending = (register(io, base + r.status()) & 1) != 0;
            register(io, base + r.acknowledge(), 1);
            return pending;
        }
        return (t.space().in((int) base + IntxRecipe.Uart.IIR, 1) & 0x0f) == IntxRecipe.Uart.IIR_THRI;
    }

    private long register(boolean io, long at) {
        return io ? t.space().in((int) at, 4) : t.space().read(at, 4);
    }

    private void register(boolean io, long at, long value) {
        if (io) {
            t.space().out((int) at, 4, value);
        } else {
            t.space().write(at, 4, value);
        }
    }

    /** What the guest's handler would do: take the vector and end it, so the next one is not merged. */
    private void takeInterrupt() {
        takeInterrupt(apic);
    }

    static void takeInterrupt(LocalApic at) {
        while (at.acknowledge() >= 0) {
            at.endOfInterrupt();
        }
    }

    /**
     * Aims the device's vector at APIC {@code target} (physical destination, MSI address bits 19:12):
     * the MSI-X entry at {@code msixEntry} (masked while its address changes, PCIe 6.0 6.1.4.5), else
     * the MSI capability at {@code msi}.
     */
    private void aim(int devfn, long msixEntry, int msi, int target) {
        long address = LAPIC_MSI | (long) target << 12;
        if (msixEntry >= 0) {
            t.space().write(msixEntry + 12, 4, 1);
            t.space().write(msixEntry, 4, address);
            t.space().write(msixEntry + 12, 4, 0);
        } else {
            cfgWrite(devfn, msi + 4, 4, address);
        }
    }

    private void dma(long bar0, long src, long dst, long command) {
        t.space().write(bar0 + DMA_SRC, 8, src);
        t.space().write(bar0 + DMA_DST, 8, dst);
        t.space().write(bar0 + DMA_COUNT, 8, DMA_BYTES);
        t.space().write(bar0 + DMA_CMD, 8, command);
        await(() -> (t.space().read(bar0 + DMA_CMD, 8) & DMA_CMD_RUN) == 0);
    }

    private void timedLoop(DriverStep step, long address, String whyNot, String what) {
        if (address == 0) {
            report.add(StepResult.skip(step, whyNot));
            return;
        }
        Histogram h = new Histogram(10_000_000_000L, 3);
        long value = 0;
        for (int i = 0; i < DriverTarget.LOOPS; i++) {
            long start = System.nanoTime();
            value = t.space().read(address, 4);
            h.recordValue(System.nanoTime() - start);
        }
        report.add(StepResult.pass(step, String.format("%d reads of 0x%x (last 0x%08x); no vCPU, so no exits to count",
                DriverTarget.LOOPS, address, value)));
        report.addLatency(what, h);
    }

    /** The trapped loop on an I/O BAR: 32-bit {@code in}s from {@code port}, each timed. */
    private void timedPortLoop(long port) {
        Histogram h = new Histogram(10_000_000_000L, 3);
        long value = 0;
        for (int i = 0; i < DriverTarget.LOOPS; i++) {
            long start = System.nanoTime();
            value = t.space().in((int) port, 4);
            h.recordValue(System.nanoTime() - start);
        }
        report.add(StepResult.pass(DriverStep.TRAPPED, String.format("%d reads of port 0x%x (last 0x%08x); no vCPU, "
                + "so no exits to count", DriverTarget.LOOPS, port, value)));
        report.addLatency("trapped port read (host-side)", h);
    }
}
