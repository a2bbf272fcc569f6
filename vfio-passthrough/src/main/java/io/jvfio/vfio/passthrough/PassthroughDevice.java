package io.jvfio.vfio.passthrough;

import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vfio.VfioIrq;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.bus.DirectRegion;
import io.jvfio.vmm.pci.PciBar;
import io.jvfio.vmm.pci.PciFunction;

import java.util.List;
import java.util.concurrent.locks.StampedLock;

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
 */
public final class PassthroughDevice implements PciFunction, AutoCloseable {

    private final String name;
    private final VfioBackend backend;
    private final PassthroughOptions options;
    private final VirtualConfig config;
    private final ConfigOverlay overlay;
    private final InterruptModes interrupts;
    private final BarWindows windows;
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
