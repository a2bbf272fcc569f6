package io.jvfio.kvm;

import io.jvfio.vmm.linux.ioctl.Ioctl;
import io.jvfio.vmm.linux.kvm.KvmClockData;
import io.jvfio.vmm.linux.kvm.KvmConstants;
import io.jvfio.vmm.linux.kvm.KvmIrqchip;
import io.jvfio.vmm.migration.MigrationException;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_CLOCK;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_IRQCHIP;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_SET_CLOCK;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_SET_IRQCHIP;

/**
 * What KVM holds of a VM beyond its vCPUs and its RAM, in sections by name: the in-kernel interrupt
 * controllers KVM_CREATE_IRQCHIP made ({@code pic-master}, {@code pic-slave}, {@code ioapic}: each a
 * {@code struct kvm_irqchip}) and the kvmclock ({@code clock}: a {@code struct kvm_clock_data}). There
 * is no PIT to save: {@link KvmMachine#create} makes none (KVM_CREATE_PIT2 is never called).
 *
 * <p>The clock is restored without KVM_CLOCK_REALTIME: the guest's clock goes on from the value it had
 * when the source stopped, the time the migration took not counted, as QEMU's kvmclock does for a VM
 * that was paused.
 */
final class VmState {

    static final String PIC_MASTER = "pic-master";
    static final String PIC_SLAVE = "pic-slave";
    static final String IOAPIC = "ioapic";
    static final String CLOCK = "clock";

    /** Every section, in the order {@link #restore} puts them back, with the chip each irqchip section is. */
    private static final Map<String, Integer> CHIPS = Map.of(PIC_MASTER, KvmConstants.KVM_IRQCHIP_PIC_MASTER,
            PIC_SLAVE, KvmConstants.KVM_IRQCHIP_PIC_SLAVE, IOAPIC, KvmConstants.KVM_IRQCHIP_IOAPIC);
    static final List<String> SECTIONS = List.of(PIC_MASTER, PIC_SLAVE, IOAPIC, CLOCK);

    private final Map<String, byte[]> sections;

    VmState(Map<String, byte[]> sections) {
        this.sections = Collections.unmodifiableMap(new LinkedHashMap<>(sections));
    }

    Map<String, byte[]> sections() {
        return sections;
    }

    /** Reads {@code vm}'s irqchip and clock, while no vCPU runs. */
    static VmState capture(KvmVm vm) {
        Map<String, byte[]> s = new LinkedHashMap<>();
        if (vm.hasIrqchip()) {
            KvmIrqchip chip = new KvmIrqchip();
            for (String name : List.of(PIC_MASTER, PIC_SLAVE, IOAPIC)) {
                Ioctl.ioctl(vm.fd(), KVM_GET_IRQCHIP, chip.chip(CHIPS.get(name)));
                s.put(name, VcpuState.bytes(chip, KvmIrqchip.SIZEOF));
            }
        }
        if (vm.checkExtension(KvmConstants.KVM_CAP_ADJUST_CLOCK) > 0) {
            KvmClockData clock = new KvmClockData();
            Ioctl.ioctl(vm.fd(), KVM_GET_CLOCK, clock);
            s.put(CLOCK, VcpuState.bytes(clock, KvmClockData.SIZEOF));
        }
        return new VmState(s);
    }

    /**
     * Puts the irqchip's and the clock's state into {@code vm}.
     *
     * @throws MigrationException if a section does not fit: an irqchip state for a VM without one, a
     *                            struct of another size, a section this format does not know
     */
    void restore(KvmVm vm) {
        for (String name : sections.keySet()) {
            if (!SECTIONS.contains(name)) {
                throw new MigrationException("the VM's state holds a section \"" + name + "\" this format does not know");
            }
        }
        KvmIrqchip chip = new KvmIrqchip();
        for (String name : List.of(PIC_MASTER, PIC_SLAVE, IOAPIC)) {
            byte[] b = sections.get(name);
            if (b == null) {
                if (vm.hasIrqchip()) {
                    throw new MigrationException("the VM's state has no \"" + name + "\" section and this machine has an "
                            + "in-kernel irqchip");
                }
                continue;
            }
            if (!vm.hasIrqchip()) {
                throw new MigrationException("the VM's state holds the in-kernel irqchip's \"" + name
                        + "\" and this machine has none");
            }
            fits(name, b, KvmIrqchip.SIZEOF);
            chip.clear();
            chip.memory().put(0, b);
            if (chip.chipId() != CHIPS.get(name)) {
                throw new MigrationException("the VM's state has chip " + chip.chipId() + " in its \"" + name
                        + "\" section, not " + CHIPS.get(name));
            }
            Ioctl.ioctl(vm.fd(), KVM_SET_IRQCHIP, chip);
        }
        byte[] clock = sections.get(CLOCK);
        if (clock != null) {
            if (vm.checkExtension(KvmConstants.KVM_CAP_ADJUST_CLOCK) <= 0) {
                throw new MigrationException("the VM's state holds a kvmclock and this KVM has no KVM_CAP_ADJUST_CLOCK");
            }
            fits(CLOCK, clock, KvmClockData.SIZEOF);
            KvmClockData c = new KvmClockData();
            c.memory().put(0, clock);
            Ioctl.ioctl(vm.fd(), KVM_SET_CLOCK, c.set(c.clock()));
        }
    }

    private static void fits(String name, byte[] b, int size) {
        if (b.length != size) {
            throw new MigrationException("the VM's state has a \"" + name + "\" section of " + b.length
                    + " bytes; this KVM's struct is " + size);
        }
    }
}
