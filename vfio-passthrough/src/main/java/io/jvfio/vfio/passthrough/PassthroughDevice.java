package io.jvfio.vfio.passthrough;

import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vfio.VfioIrq;
import io.jvfio.vfio.migration.MigratableBackend;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.bus.DirectRegion;
import io.jvfio.vmm.migration.DirtyLog;
import io.jvfio.vmm.migration.Migratable;
import io.jvfio.vmm.migration.MigrationException;
import io.jvfio.vmm.pci.PciBar;
import io.jvfio.vmm.pci.PciConfigCycles;
import io.jvfio.vmm.pci.PciFunction;

import java.util.List;
import java.util.concurrent.locks.StampedLock;

import static io.jvfio.vmm.pci.PciRegs.PCI_BASE_ADDRESS_0;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_IO;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MEMORY;
import static io.jvfio.vmm.pci.PciRegs.PCI_INTERRUPT_LINE;
import static io.jvfio.vmm.pci.PciRegs.PCI_ROM_ADDRESS;

/**
 * A device passed through to the guest, over either VFIO back end (the kernel's or vfio-user), as
 * cloud-hypervisor's VfioCommon serves both: the guest sees a per-bit overlay of the device's own
 * configuration space ({@link ConfigOverlay}):
 * <ul>
 * <li>BARs and the ROM BAR are emulated whole: sizing returns the size mask, and nothing the guest
 *     writes to them reaches the device; {@code rombar=0} hides the ROM.</li>
 * <li>The command register's I/O, memory and bus-master bits pass through; INTx-disable is emulated
 *     while MSI or MSI-X is on. The interrupt line is emulated; the pin is the device's.</li>
 * <li>The capability list shows power management, MSI, MSI-X, PCI Express and vendor-specific
 *     capabilities (read-only); others are hidden by relinking the next pointers around them, and so
 *     are the SR-IOV, ARI and resizable-BAR extended capabilities.</li>
 * <li>MSI, MSI-X and INTx each have their state ({@link MsiInterrupts}, {@link MsixInterrupts},
 *     {@link IntxInterrupt}), owning their eventfds and routes.</li>
 * </ul>
 * The model is in parts, one job each: {@link VirtualConfig} builds the configuration space once,
 * {@link InterruptModes} owns the interrupt modes and switches between them, {@link BarWindows}
 * places the BARs; this class dispatches the guest's config accesses to them, resets and closes.
 * A BAR the guest enables appears in the address space: its mmap-able areas as directly mapped
 * memory (no exit), the rest, the MSI-X table and PBA pages included, trapped and forwarded as
 * region reads and writes.
 *
 * <p>It migrates ({@link Migratable}) where its back end offers VFIO migration v2: the device's own state
 * moves as its back end's migration data, the model's ({@code PassthroughState}: what the guest programmed
 * into the emulated registers, MSI and MSI-X) beside it, replayed on the destination through the guest's
 * own paths ({@link #restore}).
 */
public final class PassthroughDevice implements PciFunction, Migratable, AutoCloseable {

    private final String name;
    private final VfioBackend backend;
    private final PassthroughOptions options;
    private final VirtualConfig config;
    private final ConfigOverlay overlay;
    private final InterruptModes interrupts;
    private final BarWindows windows;
    private final DeviceSideMigration deviceSide;
    /** The bus's path for config writes of this function's own ({@link #placed}); null until it is placed. */
    private volatile PciConfigCycles bus;
    /** Guarded by this: {@link #pause}d and not {@link #resume}d since. */
    private boolean paused;
    /** Guarded by this: what a migration's destination must match, read the first time it is asked. */
    private DeviceIdentity identity;
    private boolean closed;
    /**
     * Marks each change of the config overlay, so a config read can go without the monitor: it reads
     * optimistically and takes the monitor only if a change overlapped it (StampedLock's optimistic read).
     */
    private final StampedLock overlayChanges = new StampedLock();

    // Locking: this device's monitor guards the config overlay, the interrupt modes and the placing of
    // BAR windows (config writes, reset, wiring, mapBar/unmapBar, close); each of those that changes the
    // overlay also holds overlayChanges' write lock while it does. A config read takes neither unless a
    // change overlapped it. The monitor is taken before MsixInterrupts' own (a control write) and before
    // the address space's buses (placing a BAR); a trapped BAR access takes only MsixInterrupts' monitor,
    // never this one, so the order is always device, then MsixInterrupts.

    /**
     * Builds the guest's view of {@code backend}'s device. Its BARs appear in {@code space} when the
     * guest enables them; its interrupts are routed by {@code router}; INTx reaches no interrupt line
     * until the machine wires it ({@link #wireIntx}).
     */
    public PassthroughDevice(String name, VfioBackend backend, PassthroughOptions options, AddressSpace space,
                             InterruptRouter router) {
        this.name = name;
        this.backend = backend;
        this.options = options;
        this.config = new VirtualConfig(name, backend, options);
        this.overlay = config.overlay();
        this.interrupts = new InterruptModes(name, backend, options, config, router);
        config.buildCapabilities(interrupts);
        this.windows = new BarWindows(name, backend, options, space, config.bars(), interrupts.msix(), this);
        this.deviceSide = new DeviceSideMigration(name, backend);
        interrupts.startIntx(config.hasIntx());
    }

    // ---- PciFunction ----

    @Override
    public String name() {
        return name;
    }

    @Override
    public int configSize() {
        return config.configSize();
    }

    /**
     * A guest's config read, without a lock in the common case: PCI config reads have no side effects,
     * so a read that overlapped a change is simply made again under the monitor. A register the
     * overlay emulates whole costs no more than a plain emulated config space.
     */
    @Override
    public int readConfig(int offset, int size) {
        long stamp = overlayChanges.tryOptimisticRead();
        if (stamp != 0) {
            int value = guestView(offset, size);
            if (overlayChanges.validate(stamp)) {
                return value;
            }
        }
        synchronized (this) {
            return guestView(offset, size);
        }
    }

    /** The overlay's value with MSI's pending bits patched in: what a guest config read returns. */
    private int guestView(int offset, int size) {
        return interrupts.patchRead(offset, size, overlay.read(offset, size));
    }

    @Override
    public synchronized void writeConfig(int offset, int size, int value) {
        long stamp = overlayChanges.writeLock();
        try {
            overlay.write(offset, size, value);
            interrupts.configWritten(offset, size);
        } finally {
            overlayChanges.unlockWrite(stamp);
        }
    }

    @Override
    public List<PciBar> bars() {
        return List.copyOf(config.bars());
    }

    @Override
    public void mapBar(PciBar bar, long address) {
        windows.map(bar, address);
    }

    @Override
    public void unmapBar(PciBar bar) {
        windows.unmap(bar);
    }

    /**
     * A function reset (the VM's reset): interrupts off, the device reset (its own reset if it has one,
     * else a hot reset of its bus when every group that affects is ours, else an error that names
     * the group in the way), the emulated registers back to power-on, INTx on again.
     */
    @Override
    public synchronized void reset() {
        long stamp = overlayChanges.writeLock();
        try {
            interrupts.beforeReset();
            config.reset();
            try {
                backend.reset(); // the back end picks its reset (the kernel's may be a hot reset), or says why not
            } finally {
                interrupts.afterReset();
            }
        } finally {
            overlayChanges.unlockWrite(stamp);
        }
    }

    /**
     * Wires the function's INTx pin to interrupt line {@code gsi} (an IOAPIC pin), once the machine
     * knows where the function sits, and reports it in the interrupt line register as a BIOS would
     * (the guest may still write the register: it is a scratch byte for its driver). Called before the
     * guest runs: the register's value is also its value after a reset. A function without INTx (no
     * pin, or VFIO offers none) is left as it is.
     */
    public synchronized void wireIntx(int gsi) {
        long stamp = overlayChanges.writeLock();
        try {
            interrupts.wireIntx(gsi);
        } finally {
            overlayChanges.unlockWrite(stamp);
        }
    }

    /** The interrupt line (GSI) INTx is wired to, or -1. */
    public synchronized int intxGsi() {
        return interrupts.intxGsi();
    }

    /** Remembers the bus's path for config writes: a {@link #restore} replays the guest's registers through it. */
    @Override
    public void placed(PciConfigCycles cycles) {
        this.bus = cycles;
    }

    // ---- Migratable: QEMU's vfio-pci migration (hw/vfio/migration.c, vfio_pci_save_config/load_config) ----

    /**
     * Null when the back end offers VFIO migration v2; else the device's name and why not (the device
     * or its driver has no migration, the back end has none at all, no-IOMMU mode, the device is gone).
     */
    @Override
    public String migrationBlocker() {
        return deviceSide.blocker();
    }

    /**
     * The IDs and class the guest sees and the BARs' kinds and sizes, e.g.
     * {@code "pci 1234:11e8 subsystem 1af4:1100 class 00ff00 BAR0 1M BAR1 4K BAR2 1M 64-bit prefetchable"}.
     */
    @Override
    public String stateId() {
        return identity().toString();
    }

    private synchronized DeviceIdentity identity() {
        if (identity == null) {
            identity = DeviceIdentity.of(overlay, config.bars());
        }
        return identity;
    }

    /** The device to STOP (no DMA, no interrupts); the model's own state stays as the guest left it. */
    @Override
    public void pause() {
        deviceSide.stop();
        synchronized (this) {
            paused = true;
        }
    }

    /** The device back to RUNNING, after a failed or cancelled migration. */
    @Override
    public void resume() {
        deviceSide.run();
        synchronized (this) {
            paused = false;
        }
    }

    /**
     * The model's state (the config registers the guest programmed, MSI, the MSI-X table and PBA, INTx)
     * and the device's (its VFIO migration data, read in STOP_COPY), in {@code PassthroughState}'s
     * versioned form. Taken while paused.
     */
    @Override
    public byte[] snapshot() {
        PassthroughState vmm;
        synchronized (this) {
            if (!paused) {
                throw new MigrationException(name + ": its state is taken while it is paused: pause() it first");
            }
            long stamp = overlayChanges.readLock(); // a consistent view: no config write in between
            try {
                int[] bars = new int[PassthroughState.BAR_REGISTERS];
                for (int i = 0; i < 6; i++) {
                    bars[i] = (int) overlay.emulated(PCI_BASE_ADDRESS_0 + 4 * i, 4);
                }
                bars[6] = (int) overlay.emulated(PCI_ROM_ADDRESS, 4);
                MsiInterrupts msi = interrupts.msi();
                MsixInterrupts msix = interrupts.msix();
                vmm = new PassthroughState(identity(), overlay.emulatedBits(), bars, guestView(PCI_COMMAND, 2) & 0xFFFF,
                        (int) overlay.emulated(PCI_INTERRUPT_LINE, 1), interrupts.intxGsi(), interrupts.intxEnabled(),
                        msi != null ? msi.state() : null, msix != null ? msix.state() : null, new byte[0]);
            } finally {
                overlayChanges.unlockRead(stamp);
            }
        }
        return vmm.withDevice(deviceSide.save()).encode();
    }

    /**
     * Loads a {@link #snapshot} into this device (attached from the destination's command line, running,
     * the guest not yet run): the stream's format and device checked first, then the device's own state
     * loaded (RUNNING -> STOP -> RESUMING, its bytes, -> STOP), then the guest's programming replayed
     * through the guest's own paths while the device is still stopped, then the device RUNNING.
     *
     * @throws MigrationException for a stream of another format or version, or of another device (saying
     *                            what differs), or one the device refuses
     */
    @Override
    public void restore(byte[] bytes) {
        PassthroughState s = PassthroughState.decode(name, bytes);
        String difference = identity().difference(s.identity());
        if (difference != null) {
            throw new MigrationException(name + ": the stream's state is another device's: " + difference);
        }
        checkLayout(s);
        deviceSide.load(s.device());
        // The model's side is replayed while the device is stopped, unlike the brief order "device RUNNING,
        // then replay": as QEMU loads the config state while the device is RESUMING and runs it only when
        // the VM starts. A device running before its MSI-X is back could raise an interrupt that INTx (on
        // until MSI-X is enabled) would carry to the guest as a line interrupt it never set up.
        replay(s);
        deviceSide.run();
        synchronized (this) {
            paused = false;
        }
    }

    /** The stream's config layout (which bits the model emulates) is this one's, INTx on the same line. */
    private void checkLayout(PassthroughState s) {
        byte[] here;
        synchronized (this) {
            here = overlay.emulatedBits();
        }
        byte[] there = s.emulatedMask();
        for (int i = 0; i < Math.max(here.length, there.length); i++) {
            if (i == PCI_COMMAND || i == PCI_COMMAND + 1) {
                continue; // INTx-disable is the model's only while MSI or MSI-X is on
            }
            int a = i < there.length ? there[i] & 0xFF : -1;
            int b = i < here.length ? here[i] & 0xFF : -1;
            if (a != b) {
                throw new MigrationException(String.format("%s: the stream's device presents another config space "
                        + "than this one (at 0x%x the model emulates bits %s, here %s): the same device with other "
                        + "properties (rombar=, x-pci-*) or a device whose capabilities differ", name, i,
                        a < 0 ? "(none: a " + there.length + "-byte config space)" : String.format("0x%02x", a),
                        b < 0 ? "(none: a " + here.length + "-byte config space)" : String.format("0x%02x", b)));
            }
        }
        MsixInterrupts msix = interrupts.msix();
        if ((msix == null) != (s.msix() == null) || (msix != null && s.msix().table().length != msix.tableSize())
                || (interrupts.msi() == null) != (s.msi() == null)) {
            throw new MigrationException(name + ": the stream's device has " + (s.msi() != null ? "MSI" : "no MSI")
                    + " and " + (s.msix() != null ? "an MSI-X table of " + s.msix().table().length / 16 + " vectors"
                    : "no MSI-X") + ", this one " + (interrupts.msi() != null ? "MSI" : "no MSI") + " and "
                    + (msix != null ? "an MSI-X table of " + msix.vectors() + " vectors" : "no MSI-X"));
        }
        if (s.intxGsi() != intxGsi()) {
            throw new MigrationException(name + ": the stream's device has its INTx wired to GSI " + s.intxGsi()
                    + ", this one to GSI " + intxGsi() + ": attach it in the same slot (addr=, bus=)");
        }
    }

    /**
     * The guest's programming replayed as the guest's own writes, as QEMU's vfio_pci_load_config does
     * (config space, then BARs, then MSI/MSI-X enable): through the bus, so it decodes the BARs where the
     * registers say (directly mapped areas included), and the interrupt routes come about as when the guest
     * programmed them. Without a bus (never placed) the writes go to this function alone and no BAR
     * decodes. Holds no lock of this device's: the bus takes its own before this device's.
     */
    private void replay(PassthroughState s) {
        PciConfigCycles guest = bus != null ? bus : this::writeConfig;
        MsixInterrupts msix = interrupts.msix();
        MsiInterrupts msi = interrupts.msi();
        // Order matters:
        // 1. The MSI-X table first, while MSI-X is off: enabling it then finds every message and mask bit
        //    the guest left, and takes the vectors it had unmasked at once, none with a message of 0.
        if (msix != null && s.msix() != null) {
            msix.writeTable(s.msix());
        }
        // 2. The BARs with decode off: the bus then places each once, where the guest had it, when the
        //    command register turns decode on; with decode on (the device's loaded command register has it),
        //    each BAR written would decode at once at a half-written address (a 64-bit BAR's low dword
        //    with the old high one) over whatever lies there.
        guest.write(PCI_COMMAND, 2, s.command() & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
        for (int i = 0; i < 6; i++) {
            guest.write(PCI_BASE_ADDRESS_0 + 4 * i, 4, s.bars()[i]);
        }
        guest.write(PCI_ROM_ADDRESS, 4, s.bars()[6]);
        guest.write(PCI_INTERRUPT_LINE, 1, s.interruptLine());
        if (msi != null && s.msi() != null) {
            msi.writeRegisters(s.msi(), guest); // address, data, mask: before MSI is enabled with them
        }
        // 3. The command register: decode on, the BARs placed; bus mastering as the guest had it.
        guest.write(PCI_COMMAND, 2, s.command());
        // 4. MSI and MSI-X control last: enabling creates the routes from the registers and table above.
        if (msi != null && s.msi() != null) {
            msi.writeControl(s.msi(), guest);
        }
        if (msix != null && s.msix() != null) {
            msix.writeControl(s.msix(), guest);
        }
        // 5. What a mask held pending on the source, handed to the routes that hold it now.
        synchronized (this) {
            if (msi != null && s.msi() != null) {
                msi.carryPending(s.msi().pending());
            }
            if (msix != null && s.msix() != null) {
                msix.carryPending(s.msix());
            }
        }
    }

    /**
     * The device's DMA writes into guest RAM, from its back end ({@link MigratableBackend#dmaDirtyLog}): vfio-user's
     * DMA logging over the client's DMA windows, kernel VFIO's driver logging or Type1 dirty pages; null
     * where there is none (iommufd, the in-process back end) or the device cannot migrate at all.
     */
    @Override
    public DirtyLog dirtyLog() {
        return migrationBlocker() == null && backend instanceof MigratableBackend m ? m.dmaDirtyLog() : null;
    }

    // ---- what tests and the launcher look at ----

    public VfioBackend backend() {
        return backend;
    }

    public PassthroughOptions options() {
        return options;
    }

    /** The routes of the interrupt mode that is on (MSI-X, MSI or INTx). */
    public synchronized List<InterruptRoute> routes() {
        return interrupts.routes();
    }

    /** The capabilities the guest does not see, by where they are in the device's config space. */
    public List<String> hiddenCapabilities() {
        return config.hiddenCapabilities().stream().map(Capability::toString).toList();
    }

    /** The directly mapped areas of the BARs now in the address space. */
    public synchronized List<DirectRegion> directRegions() {
        return windows.directRegions();
    }

    /** The doorbells (ioeventfds) placed for the BARs now in the address space: offered and dynamic ones. */
    public synchronized List<io.jvfio.vmm.bus.IoEventFd> doorbells() {
        return windows.doorbells();
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        long stamp = overlayChanges.writeLock();
        try {
            windows.close();
            interrupts.close();
        } finally {
            overlayChanges.unlockWrite(stamp);
        }
    }

    @Override
    public String toString() {
        return name;
    }

    /** True for a BAR that is never mapped into the guest because it is smaller than a page. */
    public static boolean underAPage(PciBar bar) {
        return BarWindows.underAPage(bar);
    }

    /** The device's own interrupt indexes, for a diagnostic line. */
    List<VfioIrq> irqs() {
        return backend.irqs();
    }
}
