package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.CMacros;

/** Constants of {@code linux/kvm.h} (and the x86 {@code asm/kvm.h} it includes), named as in C. */
@CMacros("linux/kvm.h")
public final class KvmConstants {

    private KvmConstants() {
    }

    public static final int KVM_API_VERSION = 12;
    /** The ioctl type (magic) of every KVM request. */
    public static final int KVMIO = 0xAE;

    // kvm_run.exit_reason
    public static final int KVM_EXIT_UNKNOWN = 0;
    public static final int KVM_EXIT_EXCEPTION = 1;
    public static final int KVM_EXIT_IO = 2;
    public static final int KVM_EXIT_HYPERCALL = 3;
    public static final int KVM_EXIT_DEBUG = 4;
    public static final int KVM_EXIT_HLT = 5;
    public static final int KVM_EXIT_MMIO = 6;
    public static final int KVM_EXIT_IRQ_WINDOW_OPEN = 7;
    public static final int KVM_EXIT_SHUTDOWN = 8;
    public static final int KVM_EXIT_FAIL_ENTRY = 9;
    public static final int KVM_EXIT_INTR = 10;
    public static final int KVM_EXIT_SET_TPR = 11;
    public static final int KVM_EXIT_TPR_ACCESS = 12;
    public static final int KVM_EXIT_NMI = 16;
    public static final int KVM_EXIT_INTERNAL_ERROR = 17;
    public static final int KVM_EXIT_SYSTEM_EVENT = 24;
    public static final int KVM_EXIT_IOAPIC_EOI = 26;

    // kvm_run.io.direction
    public static final int KVM_EXIT_IO_IN = 0;
    public static final int KVM_EXIT_IO_OUT = 1;

    // kvm_run.internal.suberror
    public static final int KVM_INTERNAL_ERROR_EMULATION = 1;
    public static final int KVM_INTERNAL_ERROR_SIMUL_EX = 2;
    public static final int KVM_INTERNAL_ERROR_DELIVERY_EV = 3;
    public static final int KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON = 4;

    // kvm_run.system_event.type
    public static final int KVM_SYSTEM_EVENT_SHUTDOWN = 1;
    public static final int KVM_SYSTEM_EVENT_RESET = 2;
    public static final int KVM_SYSTEM_EVENT_CRASH = 3;

    // KVM_CHECK_EXTENSION capabilities
    public static final int KVM_CAP_IRQCHIP = 0;
    public static final int KVM_CAP_USER_MEMORY = 3;
    public static final int KVM_CAP_SET_TSS_ADDR = 4;
    public static final int KVM_CAP_EXT_CPUID = 7;
    public static final int KVM_CAP_NR_VCPUS = 9;
    public static final int KVM_CAP_NR_MEMSLOTS = 10;
    public static final int KVM_CAP_MP_STATE = 14;
    public static final int KVM_CAP_IRQ_ROUTING = 25;
    public static final int KVM_CAP_IRQFD = 32;
    public static final int KVM_CAP_IOEVENTFD = 36;
    public static final int KVM_CAP_MAX_VCPUS = 66;
    public static final int KVM_CAP_SIGNAL_MSI = 77;
    public static final int KVM_CAP_READONLY_MEM = 81;
    public static final int KVM_CAP_IRQFD_RESAMPLE = 82;
    public static final int KVM_CAP_IMMEDIATE_EXIT = 136;
    /** KVM_CLEAR_DIRTY_LOG, and KVM_GET_DIRTY_LOG leaving pages write-protected until cleared. */
    public static final int KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 = 168;
    /** KVM_GET_CLOCK and KVM_SET_CLOCK. */
    public static final int KVM_CAP_ADJUST_CLOCK = 39;
    public static final int KVM_CAP_VCPU_EVENTS = 41;
    public static final int KVM_CAP_DEBUGREGS = 50;
    public static final int KVM_CAP_XSAVE = 55;
    public static final int KVM_CAP_XCRS = 56;
    /** KVM_GET_XSAVE2; on the VM fd, the size of its kvm_xsave (at least 4096). */
    public static final int KVM_CAP_XSAVE2 = 208;

    // kvm_vcpu_events.flags
    public static final int KVM_VCPUEVENT_VALID_NMI_PENDING = 0x01;
    public static final int KVM_VCPUEVENT_VALID_SIPI_VECTOR = 0x02;
    public static final int KVM_VCPUEVENT_VALID_SHADOW = 0x04;
    public static final int KVM_VCPUEVENT_VALID_SMM = 0x08;
    public static final int KVM_VCPUEVENT_VALID_PAYLOAD = 0x10;
    public static final int KVM_VCPUEVENT_VALID_TRIPLE_FAULT = 0x20;

    // kvm_clock_data.flags
    public static final int KVM_CLOCK_TSC_STABLE = 2;
    public static final int KVM_CLOCK_REALTIME = 1 << 2;
    public static final int KVM_CLOCK_HOST_TSC = 1 << 3;

    /** The entries of kvm_xcrs.xcrs. */
    public static final int KVM_MAX_XCRS = 16;

    // kvm_mp_state.mp_state (the x86 ones)
    public static final int KVM_MP_STATE_RUNNABLE = 0;
    public static final int KVM_MP_STATE_UNINITIALIZED = 1;
    public static final int KVM_MP_STATE_INIT_RECEIVED = 2;
    public static final int KVM_MP_STATE_HALTED = 3;
    public static final int KVM_MP_STATE_SIPI_RECEIVED = 4;

    // kvm_userspace_memory_region.flags
    public static final int KVM_MEM_LOG_DIRTY_PAGES = 1;
    // KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2)'s args[0]
    public static final int KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE = 1 << 0;
    public static final int KVM_DIRTY_LOG_INITIALLY_SET = 1 << 1;
    public static final int KVM_MEM_READONLY = 2;

    // irqchips (kvm_irq_routing_irqchip.irqchip)
    public static final int KVM_IRQCHIP_PIC_MASTER = 0;
    public static final int KVM_IRQCHIP_PIC_SLAVE = 1;
    public static final int KVM_IRQCHIP_IOAPIC = 2;
    public static final int KVM_NR_INTERRUPTS = 256;

    // kvm_irq_routing_entry.type
    public static final int KVM_IRQ_ROUTING_IRQCHIP = 1;
    public static final int KVM_IRQ_ROUTING_MSI = 2;

    // kvm_irqfd.flags, kvm_msi.flags, kvm_ioeventfd.flags
    public static final int KVM_IRQFD_FLAG_DEASSIGN = 1 << 0;
    public static final int KVM_IRQFD_FLAG_RESAMPLE = 1 << 1;
    public static final int KVM_MSI_VALID_DEVID = 1 << 0;
    public static final int KVM_IOEVENTFD_FLAG_DATAMATCH = 1 << 0;
    public static final int KVM_IOEVENTFD_FLAG_PIO = 1 << 1;
    public static final int KVM_IOEVENTFD_FLAG_DEASSIGN = 1 << 2;

    // kvm_cpuid_entry2.flags
    public static final int KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1 << 0;
}
