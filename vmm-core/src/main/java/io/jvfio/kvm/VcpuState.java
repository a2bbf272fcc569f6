package io.jvfio.kvm;

import io.jvfio.vmm.linux.ioctl.Ioctl;
import io.jvfio.vmm.linux.jna.IoctlRequest;
import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.kvm.KvmConstants;
import io.jvfio.vmm.linux.kvm.KvmDebugregs;
import io.jvfio.vmm.linux.kvm.KvmFpu;
import io.jvfio.vmm.linux.kvm.KvmLapicState;
import io.jvfio.vmm.linux.kvm.KvmMpState;
import io.jvfio.vmm.linux.kvm.KvmMsrs;
import io.jvfio.vmm.linux.kvm.KvmRegs;
import io.jvfio.vmm.linux.kvm.KvmSregs;
import io.jvfio.vmm.linux.kvm.KvmVcpuEvents;
import io.jvfio.vmm.linux.kvm.KvmXcrs;
import io.jvfio.vmm.linux.kvm.KvmXsave;
import io.jvfio.vmm.migration.MigrationException;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_DEBUGREGS;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_FPU;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_LAPIC;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_MP_STATE;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_MSRS;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_REGS;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_SREGS;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_VCPU_EVENTS;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_XCRS;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_XSAVE;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_XSAVE2;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_SET_DEBUGREGS;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_SET_FPU;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_SET_LAPIC;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_SET_MP_STATE;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_SET_MSRS;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_SET_REGS;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_SET_SREGS;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_SET_VCPU_EVENTS;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_SET_XCRS;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_SET_XSAVE;

/**
 * What KVM holds of one stopped x86-64 vCPU, as the kernel's own structs in sections by name: the
 * general registers ({@code regs}), segments, control registers, EFER and the APIC base
 * ({@code sregs}), the x87/SSE/AVX state ({@code xsave}, or {@code fpu} on a KVM without XSAVE), XCR0
 * ({@code xcrs}), every MSR KVM saves for a VMM ({@code msrs}: KVM_GET_MSR_INDEX_LIST's list, less
 * those this vCPU refuses), the local APIC's register page ({@code lapic}), the multiprocessing state
 * ({@code mp}), pending events ({@code events}) and the debug registers ({@code debugregs}).
 *
 * <p>{@link #restore} puts them back in the order the kernel needs, that of QEMU's
 * {@code kvm_arch_put_registers} and cloud-hypervisor's {@code set_state}: regs before events
 * (KVM_SET_REGS drops a pending exception, which the events bring back); sregs before the LAPIC (the
 * APIC base, in sregs, says where and whether the APIC is on); the LAPIC before the MSRs (the TSC
 * deadline MSR takes only once the LAPIC's timer is in TSC-deadline mode); MP state before events.
 */
final class VcpuState {

    static final String REGS = "regs";
    static final String SREGS = "sregs";
    static final String XSAVE = "xsave";
    static final String FPU = "fpu";
    static final String XCRS = "xcrs";
    static final String LAPIC = "lapic";
    static final String MSRS = "msrs";
    static final String MP_STATE = "mp";
    static final String EVENTS = "events";
    static final String DEBUGREGS = "debugregs";

    /** Every section a state of this format may hold, in the order {@link #restore} puts them back. */
    static final List<String> SECTIONS = List.of(REGS, XSAVE, FPU, XCRS, SREGS, LAPIC, MSRS, MP_STATE, EVENTS,
            DEBUGREGS);

    private final int id;
    private final Map<String, byte[]> sections;

    VcpuState(int id, Map<String, byte[]> sections) {
        this.id = id;
        this.sections = Collections.unmodifiableMap(new LinkedHashMap<>(sections));
    }

    int id() {
        return id;
    }

    Map<String, byte[]> sections() {
        return sections;
    }

    /** Reads {@code vcpu}'s state; its run loop must not run (vCPU ioctls would wait for KVM_RUN). */
    static VcpuState capture(KvmVcpu vcpu) {
        KvmVm vm = vcpu.vm();
        Map<String, byte[]> s = new LinkedHashMap<>();
        s.put(REGS, get(vcpu, new KvmRegs(), KVM_GET_REGS));
        int xsaveSize = xsaveSize(vm);
        if (xsaveSize > 0) {
            // KVM_GET_XSAVE fills 4 KiB only; a larger area (dynamic features enabled) needs KVM_GET_XSAVE2.
            KvmXsave x = new KvmXsave(xsaveSize);
            Ioctl.ioctl(vcpu.fd(), xsaveSize > KvmXsave.SIZEOF ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, x);
            s.put(XSAVE, bytes(x, xsaveSize));
        } else {
            s.put(FPU, get(vcpu, new KvmFpu(), KVM_GET_FPU));
        }
        if (vm.checkExtension(KvmConstants.KVM_CAP_XCRS) > 0) {
            s.put(XCRS, get(vcpu, new KvmXcrs(), KVM_GET_XCRS));
        }
        s.put(SREGS, get(vcpu, new KvmSregs(), KVM_GET_SREGS));
        s.put(LAPIC, get(vcpu, new KvmLapicState(), KVM_GET_LAPIC));
        s.put(MSRS, msrs(vcpu));
        s.put(MP_STATE, get(vcpu, new KvmMpState(), KVM_GET_MP_STATE));
        if (vm.checkExtension(KvmConstants.KVM_CAP_VCPU_EVENTS) > 0) {
            s.put(EVENTS, get(vcpu, new KvmVcpuEvents(), KVM_GET_VCPU_EVENTS));
        }
        if (vm.checkExtension(KvmConstants.KVM_CAP_DEBUGREGS) > 0) {
            s.put(DEBUGREGS, get(vcpu, new KvmDebugregs(), KVM_GET_DEBUGREGS));
        }
        return new VcpuState(vcpu.id(), s);
    }

    /**
     * Every MSR of KVM_GET_MSR_INDEX_LIST this vCPU reads, with its value: KVM_GET_MSRS stops at the first
     * MSR it refuses (one whose feature this vCPU's CPUID lacks) and returns how many it read, so the
     * refused one is dropped and the rest asked again, as cloud-hypervisor does.
     */
    private static byte[] msrs(KvmVcpu vcpu) {
        List<Integer> indices = new ArrayList<>();
        for (int index : vcpu.vm().kvm().msrIndexList()) {
            indices.add(index);
        }
        KvmMsrs msrs = new KvmMsrs(indices.size());
        while (true) {
            for (int i = 0; i < indices.size(); i++) {
                msrs.entry(i, indices.get(i), 0);
            }
            msrs.nmsrs(indices.size());
            int read = Ioctl.ioctl(vcpu.fd(), KVM_GET_MSRS, msrs);
            if (read >= indices.size()) {
                return bytes(msrs, KvmMsrs.SIZEOF + KvmMsrs.ENTRY_SIZEOF * indices.size());
            }
            indices.remove(read);
        }
    }

    /** The size of this VM's XSAVE area (KVM_CAP_XSAVE2 on the VM, 4 KiB with KVM_CAP_XSAVE only), 0 without XSAVE. */
    static int xsaveSize(KvmVm vm) {
        if (vm.checkExtension(KvmConstants.KVM_CAP_XSAVE) <= 0) {
            return 0;
        }
        return Math.max(vm.checkExtension(KvmConstants.KVM_CAP_XSAVE2), KvmXsave.SIZEOF);
    }

    /**
     * Puts this state into {@code vcpu} (which must not run), in the order the class comment gives.
     *
     * @throws MigrationException if a section does not fit this KVM (another size, a feature it lacks, an
     *                            MSR it refuses), naming the vCPU and the section
     */
    void restore(KvmVcpu vcpu) {
        KvmVm vm = vcpu.vm();
        for (String name : sections.keySet()) {
            if (!SECTIONS.contains(name)) {
                throw refused("holds a section \"" + name + "\" this format does not know");
            }
        }
        for (String required : List.of(REGS, SREGS, LAPIC, MSRS, MP_STATE)) {
            if (!sections.containsKey(required)) {
                throw refused("lacks its \"" + required + "\" section");
            }
        }
        if (!sections.containsKey(XSAVE) && !sections.containsKey(FPU)) {
            throw refused("has neither an \"xsave\" nor an \"fpu\" section");
        }
        set(vcpu, REGS, new KvmRegs(), KVM_SET_REGS);
        if (sections.containsKey(XSAVE)) {
            byte[] x = sections.get(XSAVE);
            int size = xsaveSize(vm);
            if (size == 0) {
                throw refused("holds an XSAVE area and this KVM has no KVM_CAP_XSAVE");
            }
            if (x.length < KvmXsave.SIZEOF || x.length > size) {
                throw refused("holds an XSAVE area of " + x.length + " bytes and this KVM's is " + size
                        + " (KVM_CAP_XSAVE2): the destination must offer the source's CPU features");
            }
            // A smaller area than this KVM's: the features past it were off, and stay so (zeros).
            KvmXsave area = new KvmXsave(size);
            area.memory().put(0, x);
            Ioctl.ioctl(vcpu.fd(), KVM_SET_XSAVE, area);
        } else {
            set(vcpu, FPU, new KvmFpu(), KVM_SET_FPU);
        }
        if (sections.containsKey(XCRS)) {
            if (vm.checkExtension(KvmConstants.KVM_CAP_XCRS) <= 0) {
                throw refused("holds XCRs and this KVM has no KVM_CAP_XCRS");
            }
            set(vcpu, XCRS, new KvmXcrs(), KVM_SET_XCRS);
        }
        set(vcpu, SREGS, new KvmSregs(), KVM_SET_SREGS);
        set(vcpu, LAPIC, new KvmLapicState(), KVM_SET_LAPIC);
        restoreMsrs(vcpu);
        set(vcpu, MP_STATE, new KvmMpState(), KVM_SET_MP_STATE);
        if (sections.containsKey(EVENTS)) {
            KvmVcpuEvents events = new KvmVcpuEvents();
            load(EVENTS, events, KvmVcpuEvents.SIZEOF);
            // As QEMU does for a full restore: the pending NMI and the SIPI vector are taken too.
            events.flags(events.flags() | KvmConstants.KVM_VCPUEVENT_VALID_NMI_PENDING
                    | KvmConstants.KVM_VCPUEVENT_VALID_SIPI_VECTOR);
            Ioctl.ioctl(vcpu.fd(), KVM_SET_VCPU_EVENTS, events);
        }
        if (sections.containsKey(DEBUGREGS)) {
            KvmDebugregs d = new KvmDebugregs();
            load(DEBUGREGS, d, KvmDebugregs.SIZEOF);
            Ioctl.ioctl(vcpu.fd(), KVM_SET_DEBUGREGS, d.flags(0)); // KVM takes no flags on set
        }
    }

    private void restoreMsrs(KvmVcpu vcpu) {
        byte[] b = sections.get(MSRS);
        if (b.length < KvmMsrs.SIZEOF || (b.length - KvmMsrs.SIZEOF) % KvmMsrs.ENTRY_SIZEOF != 0) {
            throw refused("has an \"msrs\" section of " + b.length + " bytes, not a kvm_msrs header of "
                    + KvmMsrs.SIZEOF + " and entries of " + KvmMsrs.ENTRY_SIZEOF);
        }
        int n = (b.length - KvmMsrs.SIZEOF) / KvmMsrs.ENTRY_SIZEOF;
        KvmMsrs msrs = new KvmMsrs(n);
        msrs.memory().put(0, b);
        if (msrs.nmsrs() != n) {
            throw refused("has an \"msrs\" section saying " + Integer.toUnsignedString(msrs.nmsrs()) + " MSRs and holding "
                    + n);
        }
        int written = Ioctl.ioctl(vcpu.fd(), KVM_SET_MSRS, msrs);
        if (written < n) {
            throw refused(String.format("has MSR 0x%x (entry %d of %d), which this KVM refuses: the destination must "
                    + "offer the source's CPU features", msrs.index(written), written, n));
        }
    }

    private MigrationException refused(String what) {
        return new MigrationException("vCPU " + id + "'s state " + what);
    }

    private void set(KvmVcpu vcpu, String section, NativeStruct s, IoctlRequest request) {
        load(section, s, s.capacity());
        Ioctl.ioctl(vcpu.fd(), request, s);
    }

    private void load(String section, NativeStruct s, int size) {
        byte[] b = sections.get(section);
        if (b.length != size) {
            throw refused("has a \"" + section + "\" section of " + b.length + " bytes; this KVM's struct is " + size);
        }
        s.memory().put(0, b);
    }

    private static byte[] get(KvmVcpu vcpu, NativeStruct s, IoctlRequest request) {
        Ioctl.ioctl(vcpu.fd(), request, s);
        return bytes(s, s.capacity());
    }

    static byte[] bytes(NativeStruct s, int size) {
        byte[] b = new byte[size];
        s.memory().get(0, b);
        return b;
    }
}
