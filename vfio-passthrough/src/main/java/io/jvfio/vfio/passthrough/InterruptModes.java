package io.jvfio.vfio.passthrough;

import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vmm.pci.PciBar;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSIX_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSI_IRQ_INDEX;
import static io.jvfio.vmm.pci.PciRegs.*;

/**
 * The interrupt modes of a passed-through function, MSI, MSI-X and INTx ({@link MsiInterrupts},
 * {@link MsixInterrupts}, {@link IntxInterrupt}, each owning its eventfds and routes), and the
 * switching between them as on real hardware: INTx is on until the guest turns MSI or MSI-X on, and
 * back when both are off; while either is on, INTx-disable in the command register is emulated.
 *
 * <p>Not thread-safe by itself: every call but the construction-time ones comes with the owning
 * {@link PassthroughDevice}'s monitor held (config accesses, reset, close, wiring), and the BAR
 * traps reach only {@link MsixInterrupts}, which has its own lock.
 */
final class InterruptModes {

    /** The device's logger: its log lines are the device's, whichever part of the model writes them. */
    private static final Logger LOG = LoggerFactory.getLogger(PassthroughDevice.class);

    private final String name;
    private final VfioBackend backend;
    private final PassthroughOptions options;
    private final InterruptRouter router;
    private final VirtualConfig config;
    private final ConfigOverlay overlay;
    /** Bound once, so that a config write enabling MSI or MSI-X allocates no callback. */
    private final Runnable interruptsOn = this::interruptsOn;
    // Set while the virtual config is built (in PassthroughDevice's constructor), never after.
    private MsiInterrupts msi;
    private MsixInterrupts msix;
    private IntxInterrupt intx;

    InterruptModes(String name, VfioBackend backend, PassthroughOptions options, VirtualConfig config,
                   InterruptRouter router) {
        this.name = name;
        this.backend = backend;
        this.options = options;
        this.config = config;
        this.overlay = config.overlay();
        this.router = router;
    }

    /**
     * Takes the MSI or MSI-X capability {@code c} if VFIO offers that interrupt index (and, for
     * MSI-X, its table and PBA lie inside BARs); false hides the capability. Other capabilities are
     * not interrupt modes: true.
     */
    boolean adopt(Capability c) {
        ConfigOverlay.Device device = config.device();
        if (c.id() == PCI_CAP_ID_MSI) {
            if (VirtualConfig.irqCount(backend, VFIO_PCI_MSI_IRQ_INDEX) <= 0) {
                return false;
            }
            msi = new MsiInterrupts(name, c.offset(), device.read(c.offset() + PCI_MSI_FLAGS, 2), overlay, backend,
                    router, !options.noKvmMsi());
            return true;
        }
        if (c.id() == PCI_CAP_ID_MSIX) {
            if (VirtualConfig.irqCount(backend, VFIO_PCI_MSIX_IRQ_INDEX) <= 0) {
                return false;
            }
            msix = msix(c);
            return msix != null;
        }
        return true;
    }

    private MsixInterrupts msix(Capability c) {
        ConfigOverlay.Device device = config.device();
        int flags = device.read(c.offset() + PCI_MSIX_FLAGS, 2);
        MsixInterrupts m = new MsixInterrupts(name, c.offset(), flags, device.read(c.offset() + PCI_MSIX_TABLE, 4),
                device.read(c.offset() + PCI_MSIX_PBA, 4), overlay, backend, router, !options.noKvmMsix());
        PciBar tableBar = config.bar(m.tableBar());
        PciBar pbaBar = config.bar(m.pbaBar());
        if (tableBar == null || pbaBar == null || m.tableOffset() + m.tableSize() > tableBar.size()
                || m.pbaOffset() + m.pbaSize() > pbaBar.size()) {
            LOG.warn("{}: its MSI-X table (BAR{} +0x{}) or PBA (BAR{} +0x{}) is not inside a BAR; MSI-X is hidden",
                    name, m.tableBar(), Long.toHexString(m.tableOffset()), m.pbaBar(), Long.toHexString(m.pbaOffset()));
            return null;
        }
        return m;
    }

    /** Emulates the registers of the MSI and MSI-X capabilities taken, once the capability list is linked. */
    void emulate() {
        if (msi != null) {
            msi.emulate();
        }
        if (msix != null) {
            msix.emulate(config.device().read(config.capabilityOffset(PCI_CAP_ID_MSIX) + PCI_MSIX_FLAGS, 2));
        }
    }

    /** INTx, if the function has it: on from the start, until the guest turns MSI or MSI-X on. */
    void startIntx(boolean hasIntx) {
        intx = hasIntx ? new IntxInterrupt(name, backend, router) : null;
        if (intx != null) {
            intx.enable(); // INTx is on until the guest turns MSI or MSI-X on, as on real hardware
        }
    }

    /** The MSI state; null without MSI. */
    MsiInterrupts msi() {
        return msi;
    }

    /** Whether INTx is on (MSI and MSI-X off, and the function has it). */
    boolean intxEnabled() {
        return intx != null && intx.enabled();
    }

    /** The MSI-X state, for the BAR traps over its table and PBA; null without MSI-X. */
    MsixInterrupts msix() {
        return msix;
    }

    /** A config read with MSI's view of its registers. */
    int patchRead(int offset, int size, int value) {
        return msi != null ? msi.patchRead(offset, size, value) : value;
    }

    /** After the guest's config write reached the overlay: MSI and MSI-X follow their registers. */
    void configWritten(int offset, int size) {
        if (msi != null && msi.covers(offset, size)) {
            try {
                msi.written(interruptsOn);
            } catch (RuntimeException e) {
                refuseEnable("MSI", msi::disable, config.capabilityOffset(PCI_CAP_ID_MSI) + PCI_MSI_FLAGS,
                        PCI_MSI_FLAGS_ENABLE, e);
            }
            interruptsMaybeOff();
        }
        if (msix != null && msix.coversControl(offset, size)) {
            try {
                msix.controlWritten(interruptsOn);
            } catch (RuntimeException e) {
                refuseEnable("MSI-X", msix::disable, config.capabilityOffset(PCI_CAP_ID_MSIX) + PCI_MSIX_FLAGS,
                        PCI_MSIX_FLAGS_ENABLE, e);
            }
            interruptsMaybeOff();
        }
    }

    /** The device would not take the interrupts the guest enabled: the enable bit reads back clear. */
    private void refuseEnable(String what, Runnable disable, int flagsOffset, int enableBit, RuntimeException e) {
        LOG.warn("{}: enabling {} failed, it stays off: {}", name, what, e.getMessage());
        disable.run();
        overlay.setEmulated(flagsOffset, 2, overlay.emulated(flagsOffset, 2) & ~enableBit);
    }

    /** MSI or MSI-X is about to go on: INTx goes off, and its disable bit is the model's while they are on. */
    private void interruptsOn() {
        if (intx != null) {
            intx.disable();
        }
        if ((overlay.emulatedMask(PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE) == 0) {
            int current = overlay.read(PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE;
            overlay.emulate(PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE, current, PCI_COMMAND_INTX_DISABLE);
        }
    }

    /** With MSI and MSI-X both off, INTx is back, and its disable bit the device's again. */
    private void interruptsMaybeOff() {
        boolean msiOn = msi != null && msi.enabled();
        boolean msixOn = msix != null && msix.enabled();
        if (msiOn || msixOn) {
            return;
        }
        overlay.passThrough(PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
        if (intx != null && !intx.enabled()) {
            intx.enable();
        }
    }

    /**
     * The interrupt half of a function reset: every mode off, the MSI-X table at power-on, and
     * INTx-disable the device's again. INTx comes back with {@link #afterReset}.
     */
    void beforeReset() {
        if (msi != null) {
            msi.disable();
        }
        if (msix != null) {
            msix.disable();
            msix.resetTable();
        }
        if (intx != null) {
            intx.disable();
        }
        overlay.passThrough(PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
    }

    /** After the device's reset (or its failure): INTx on again, as after power-on. */
    void afterReset() {
        if (intx != null) {
            intx.enable();
        }
    }

    /** See {@link PassthroughDevice#wireIntx}. */
    void wireIntx(int gsi) {
        if (intx == null) {
            return;
        }
        overlay.emulate(PCI_INTERRUPT_LINE, 1, 0xFF, gsi & 0xFF, 0xFF);
        overlay.sealResetState();
        intx.wire(gsi);
    }

    int intxGsi() {
        return intx == null ? -1 : intx.gsi();
    }

    /** The routes of the interrupt mode that is on (MSI-X, MSI or INTx). */
    List<InterruptRoute> routes() {
        if (msix != null && msix.enabled()) {
            return List.of(msix.routes());
        }
        if (msi != null && msi.enabled()) {
            return List.of(msi.routes());
        }
        return intx != null && intx.enabled() ? List.of(intx.route()) : List.of();
    }

    /** Every mode off, as the device closes; a failure is logged, not thrown. */
    void close() {
        try {
            if (msi != null) {
                msi.disable();
            }
            if (msix != null) {
                msix.disable();
            }
            if (intx != null) {
                intx.disable();
            }
        } catch (RuntimeException e) {
            LOG.warn("{}: turning its interrupts off failed while closing: {}", name, e.getMessage());
        }
    }
}
