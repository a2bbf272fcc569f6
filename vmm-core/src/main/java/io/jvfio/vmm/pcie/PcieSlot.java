package io.jvfio.vmm.pcie;

import io.jvfio.vmm.pci.PciConfigSpace;

import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_LNKSTA;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_LNKSTA_DLLLA;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCAP;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCAP_ABP;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCAP_AIP;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCAP_HPC;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCAP_PCP;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCAP_PIP;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCTL;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCTL_ABPE;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCTL_AIC;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCTL_ATTN_IND_OFF;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCTL_CCIE;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCTL_DLLSCE;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCTL_HPIE;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCTL_PCC;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCTL_PDCE;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCTL_PIC;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCTL_PWR_IND_OFF;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCTL_PWR_IND_ON;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCTL_PWR_OFF;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTSTA;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTSTA_ABP;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTSTA_CC;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTSTA_DLLSC;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTSTA_PDC;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTSTA_PDS;

/**
 * The native hotplug slot of a PCI Express downstream port: the Slot Capabilities, Slot Control and
 * Slot Status registers of its PCI Express capability, and the events and interrupt the PCI Express
 * Base Specification (6.7.3, 7.5.3.9-11) defines on them.
 *
 * <p>The slot has an attention button, a power controller, attention and power indicators, and is
 * hot-plug capable; no MRL sensor, no electromechanical interlock, no power fault detection (their
 * enables read 0), and it is not surprise-removal capable (removal goes through the button). Slot
 * Status's ABP, PDC, CC and DLLSC are write-one-to-clear. Events: presence detect changed (with data
 * link layer state changed: the link comes up with the device) when a device is hot-added; the
 * attention button when the management layer asks for removal; command completed after every write to
 * Slot Control (6.7.3.2: a write to any part of it is one command; QEMU does the same); and presence
 * detect changed and data link layer state changed when the guest turns the slot off (power controller
 * off with the power indicator off, QEMU's condition) while a device is present, which takes the
 * device away. The hotplug interrupt is sent when Hot-Plug Interrupt Enable is set and the logical AND
 * of an event's status bit and its enable goes from false to true for any event (6.7.3.4); a guest
 * that does not clear a status bit gets no further interrupt for that event.
 *
 * <p>Differences from QEMU, whose guests both behaviours serve: QEMU also presses the attention button
 * when it hot-adds, sends the MSI on the falling edge too, does not raise DLLSC, and ignores a
 * write to Slot Status that would clear a bit not set (its work-around for guests clearing all bits
 * at init); jvfio keeps the standard registers.
 */
final class PcieSlot {

    /** The event bits of Slot Status, each with its enable bit of Slot Control. */
    private static final int[][] EVENTS = {
            {PCI_EXP_SLTSTA_ABP, PCI_EXP_SLTCTL_ABPE},
            {PCI_EXP_SLTSTA_PDC, PCI_EXP_SLTCTL_PDCE},
            {PCI_EXP_SLTSTA_CC, PCI_EXP_SLTCTL_CCIE},
            {PCI_EXP_SLTSTA_DLLSC, PCI_EXP_SLTCTL_DLLSCE},
    };

    /** What the slot asks of its port. */
    interface Port {
        /** Send the hotplug interrupt. */
        void interrupt();

        /** The guest turned the slot off with a device in it: the device goes. */
        void poweredOff();
    }

    private final PciConfigSpace config;
    private final int cap;
    private final Port port;
    /** Whether the interrupt condition (6.7.3.4) holds, to send on its rising edge only. */
    private boolean asserted;

    PcieSlot(PciConfigSpace config, int cap, int physicalSlot, Port port) {
        this.config = config;
        this.cap = cap;
        this.port = port;
        config.set(cap + PCI_EXP_SLTCAP, 4, (long) physicalSlot << 19 | PCI_EXP_SLTCAP_ABP | PCI_EXP_SLTCAP_PCP
                | PCI_EXP_SLTCAP_AIP | PCI_EXP_SLTCAP_PIP | PCI_EXP_SLTCAP_HPC);
        config.setWritable(cap + PCI_EXP_SLTCTL, 2, PCI_EXP_SLTCTL_ABPE | PCI_EXP_SLTCTL_PDCE | PCI_EXP_SLTCTL_CCIE
                | PCI_EXP_SLTCTL_HPIE | PCI_EXP_SLTCTL_AIC | PCI_EXP_SLTCTL_PIC | PCI_EXP_SLTCTL_PCC
                | PCI_EXP_SLTCTL_DLLSCE);
        config.setWriteOneToClear(cap + PCI_EXP_SLTSTA, 2, PCI_EXP_SLTSTA_ABP | PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_CC
                | PCI_EXP_SLTSTA_DLLSC);
    }

    /**
     * The slot's state after a reset with or without a device in it (as QEMU's pcie_cap_slot_reset):
     * every enable off, attention indicator off; powered with the power indicator on if a device is
     * there, else powered off with it off; no event pending.
     */
    void reset(boolean populated) {
        config.set(cap + PCI_EXP_SLTCTL, 2, PCI_EXP_SLTCTL_ATTN_IND_OFF
                | (populated ? PCI_EXP_SLTCTL_PWR_IND_ON : PCI_EXP_SLTCTL_PWR_IND_OFF | PCI_EXP_SLTCTL_PWR_OFF));
        config.set(cap + PCI_EXP_SLTSTA, 2, populated ? PCI_EXP_SLTSTA_PDS : 0);
        link(populated);
        asserted = false;
    }

    /** Whether the interrupt condition holds now (its next rising edge sends the interrupt). */
    boolean interruptCondition() {
        return asserted;
    }

    /** The condition as a migrated slot had it, its registers loaded already: nothing is sent. */
    void restoreInterruptCondition(boolean condition) {
        asserted = condition;
    }

    int control() {
        return (int) config.raw(cap + PCI_EXP_SLTCTL, 2);
    }

    int status() {
        return (int) config.raw(cap + PCI_EXP_SLTSTA, 2);
    }

    boolean present() {
        return (status() & PCI_EXP_SLTSTA_PDS) != 0;
    }

    /** Whether the power controller has the slot on. */
    boolean powered() {
        return (control() & PCI_EXP_SLTCTL_PCC) == 0;
    }

    /** A device arrived: presence, the link up, and (hot-added) the events that tell the guest. */
    void plugged(boolean hot) {
        if (!hot) {
            reset(true);
            return;
        }
        config.set(cap + PCI_EXP_SLTSTA, 2, status() | PCI_EXP_SLTSTA_PDS);
        link(true);
        event(PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC);
    }

    /** The management layer asks for the device to go: the attention button is pressed. */
    void pressAttentionButton() {
        event(PCI_EXP_SLTSTA_ABP);
    }

    /** What a configuration write changed: {@code oldControl} is Slot Control as it was before. */
    void written(int offset, int size, int oldControl) {
        if (overlaps(offset, size, cap + PCI_EXP_SLTSTA)) {
            update(); // bits cleared: the condition may have dropped, to rise again on the next event
        }
        if (!overlaps(offset, size, cap + PCI_EXP_SLTCTL)) {
            return;
        }
        int control = control();
        if (present() && poweredOff(control) && !poweredOff(oldControl)) {
            // QEMU's condition: power controller off and power indicator off; only on the transition,
            // so a guest rewriting the control of an empty, powered-off slot takes nothing away.
            config.set(cap + PCI_EXP_SLTSTA, 2, status() & ~PCI_EXP_SLTSTA_PDS);
            link(false);
            port.poweredOff();
            event(PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC);
        }
        update(); // the enables may have changed
        event(PCI_EXP_SLTSTA_CC);
    }

    private static boolean poweredOff(int control) {
        return (control & PCI_EXP_SLTCTL_PCC) == PCI_EXP_SLTCTL_PWR_OFF
                && (control & PCI_EXP_SLTCTL_PIC) == PCI_EXP_SLTCTL_PWR_IND_OFF;
    }

    private void link(boolean up) {
        int status = (int) config.raw(cap + PCI_EXP_LNKSTA, 2);
        config.set(cap + PCI_EXP_LNKSTA, 2, up ? status | PCI_EXP_LNKSTA_DLLLA : status & ~PCI_EXP_LNKSTA_DLLLA);
    }

    private void event(int bits) {
        config.set(cap + PCI_EXP_SLTSTA, 2, status() | bits);
        update();
    }

    /** Re-evaluates the interrupt condition; sends the interrupt when it goes from false to true. */
    private void update() {
        int control = control();
        boolean condition = false;
        if ((control & PCI_EXP_SLTCTL_HPIE) != 0) {
            int status = status();
            for (int[] e : EVENTS) {
                condition |= (status & e[0]) != 0 && (control & e[1]) != 0;
            }
        }
        boolean rising = condition && !asserted;
        asserted = condition;
        if (rising) {
            port.interrupt();
        }
    }

    private static boolean overlaps(int offset, int size, int register) {
        return offset < register + 2 && register < offset + size;
    }
}
