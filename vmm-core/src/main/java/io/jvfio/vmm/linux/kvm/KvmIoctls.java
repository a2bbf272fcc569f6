package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.IoctlRequest;

import static io.jvfio.vmm.linux.kvm.KvmConstants.KVMIO;

/**
 * The ioctl requests of {@code linux/kvm.h} that jvfio uses. Unlike VFIO, KVM encodes the argument
 * size and direction, taken here from the struct mirrors so that a size error shows up in one place.
 */
public final class KvmIoctls {

    private KvmIoctls() {
    }

    // system (/dev/kvm)
    public static final IoctlRequest KVM_GET_API_VERSION = IoctlRequest.io("KVM_GET_API_VERSION", KVMIO, 0x00);
    public static final IoctlRequest KVM_CREATE_VM = IoctlRequest.io("KVM_CREATE_VM", KVMIO, 0x01);
    public static final IoctlRequest KVM_CHECK_EXTENSION = IoctlRequest.io("KVM_CHECK_EXTENSION", KVMIO, 0x03);
    public static final IoctlRequest KVM_GET_VCPU_MMAP_SIZE = IoctlRequest.io("KVM_GET_VCPU_MMAP_SIZE", KVMIO, 0x04);
    public static final IoctlRequest KVM_GET_SUPPORTED_CPUID =
            IoctlRequest.iowr("KVM_GET_SUPPORTED_CPUID", KVMIO, 0x05, KvmCpuid2.SIZEOF);
    public static final IoctlRequest KVM_GET_MSR_INDEX_LIST =
            IoctlRequest.iowr("KVM_GET_MSR_INDEX_LIST", KVMIO, 0x02, KvmMsrList.SIZEOF);

    // VM
    public static final IoctlRequest KVM_CREATE_VCPU = IoctlRequest.io("KVM_CREATE_VCPU", KVMIO, 0x41);
    public static final IoctlRequest KVM_GET_DIRTY_LOG =
            IoctlRequest.iow("KVM_GET_DIRTY_LOG", KVMIO, 0x42, KvmDirtyLog.SIZEOF);
    public static final IoctlRequest KVM_SET_USER_MEMORY_REGION =
            IoctlRequest.iow("KVM_SET_USER_MEMORY_REGION", KVMIO, 0x46, KvmUserspaceMemoryRegion.SIZEOF);
    public static final IoctlRequest KVM_SET_TSS_ADDR = IoctlRequest.io("KVM_SET_TSS_ADDR", KVMIO, 0x47);
    public static final IoctlRequest KVM_SET_IDENTITY_MAP_ADDR =
            IoctlRequest.iow("KVM_SET_IDENTITY_MAP_ADDR", KVMIO, 0x48, Long.BYTES);
    public static final IoctlRequest KVM_CREATE_IRQCHIP = IoctlRequest.io("KVM_CREATE_IRQCHIP", KVMIO, 0x60);
    public static final IoctlRequest KVM_IRQ_LINE = IoctlRequest.iow("KVM_IRQ_LINE", KVMIO, 0x61, KvmIrqLevel.SIZEOF);
    public static final IoctlRequest KVM_SET_GSI_ROUTING =
            IoctlRequest.iow("KVM_SET_GSI_ROUTING", KVMIO, 0x6a, KvmIrqRouting.SIZEOF);
    public static final IoctlRequest KVM_IRQFD = IoctlRequest.iow("KVM_IRQFD", KVMIO, 0x76, KvmIrqfd.SIZEOF);
    public static final IoctlRequest KVM_IOEVENTFD = IoctlRequest.iow("KVM_IOEVENTFD", KVMIO, 0x79, KvmIoeventfd.SIZEOF);
    public static final IoctlRequest KVM_SIGNAL_MSI = IoctlRequest.iow("KVM_SIGNAL_MSI", KVMIO, 0xa5, KvmMsi.SIZEOF);
    public static final IoctlRequest KVM_CLEAR_DIRTY_LOG =
            IoctlRequest.iowr("KVM_CLEAR_DIRTY_LOG", KVMIO, 0xc0, KvmClearDirtyLog.SIZEOF);
    // KVM_SET_IRQCHIP is _IOR in linux/kvm.h although the kernel reads its argument: the number is what counts.
    public static final IoctlRequest KVM_GET_IRQCHIP =
            IoctlRequest.iowr("KVM_GET_IRQCHIP", KVMIO, 0x62, KvmIrqchip.SIZEOF);
    public static final IoctlRequest KVM_SET_IRQCHIP =
            IoctlRequest.ior("KVM_SET_IRQCHIP", KVMIO, 0x63, KvmIrqchip.SIZEOF);
    public static final IoctlRequest KVM_SET_CLOCK = IoctlRequest.iow("KVM_SET_CLOCK", KVMIO, 0x7b, KvmClockData.SIZEOF);
    public static final IoctlRequest KVM_GET_CLOCK = IoctlRequest.ior("KVM_GET_CLOCK", KVMIO, 0x7c, KvmClockData.SIZEOF);
    public static final IoctlRequest KVM_GET_STATS_FD = IoctlRequest.io("KVM_GET_STATS_FD", KVMIO, 0xce);

    // vCPU
    public static final IoctlRequest KVM_RUN = IoctlRequest.io("KVM_RUN", KVMIO, 0x80);
    public static final IoctlRequest KVM_GET_TSC_KHZ = IoctlRequest.io("KVM_GET_TSC_KHZ", KVMIO, 0xa3);
    public static final IoctlRequest KVM_GET_REGS = IoctlRequest.ior("KVM_GET_REGS", KVMIO, 0x81, KvmRegs.SIZEOF);
    public static final IoctlRequest KVM_SET_REGS = IoctlRequest.iow("KVM_SET_REGS", KVMIO, 0x82, KvmRegs.SIZEOF);
    public static final IoctlRequest KVM_GET_SREGS = IoctlRequest.ior("KVM_GET_SREGS", KVMIO, 0x83, KvmSregs.SIZEOF);
    public static final IoctlRequest KVM_SET_SREGS = IoctlRequest.iow("KVM_SET_SREGS", KVMIO, 0x84, KvmSregs.SIZEOF);
    public static final IoctlRequest KVM_GET_LAPIC =
            IoctlRequest.ior("KVM_GET_LAPIC", KVMIO, 0x8e, KvmLapicState.SIZEOF);
    public static final IoctlRequest KVM_SET_LAPIC =
            IoctlRequest.iow("KVM_SET_LAPIC", KVMIO, 0x8f, KvmLapicState.SIZEOF);
    public static final IoctlRequest KVM_GET_MP_STATE =
            IoctlRequest.ior("KVM_GET_MP_STATE", KVMIO, 0x98, KvmMpState.SIZEOF);
    public static final IoctlRequest KVM_SET_MP_STATE =
            IoctlRequest.iow("KVM_SET_MP_STATE", KVMIO, 0x99, KvmMpState.SIZEOF);
    public static final IoctlRequest KVM_GET_MSRS = IoctlRequest.iowr("KVM_GET_MSRS", KVMIO, 0x88, KvmMsrs.SIZEOF);
    public static final IoctlRequest KVM_SET_MSRS = IoctlRequest.iow("KVM_SET_MSRS", KVMIO, 0x89, KvmMsrs.SIZEOF);
    public static final IoctlRequest KVM_GET_FPU = IoctlRequest.ior("KVM_GET_FPU", KVMIO, 0x8c, KvmFpu.SIZEOF);
    public static final IoctlRequest KVM_SET_FPU = IoctlRequest.iow("KVM_SET_FPU", KVMIO, 0x8d, KvmFpu.SIZEOF);
    public static final IoctlRequest KVM_GET_VCPU_EVENTS =
            IoctlRequest.ior("KVM_GET_VCPU_EVENTS", KVMIO, 0x9f, KvmVcpuEvents.SIZEOF);
    public static final IoctlRequest KVM_SET_VCPU_EVENTS =
            IoctlRequest.iow("KVM_SET_VCPU_EVENTS", KVMIO, 0xa0, KvmVcpuEvents.SIZEOF);
    public static final IoctlRequest KVM_GET_DEBUGREGS =
            IoctlRequest.ior("KVM_GET_DEBUGREGS", KVMIO, 0xa1, KvmDebugregs.SIZEOF);
    public static final IoctlRequest KVM_SET_DEBUGREGS =
            IoctlRequest.iow("KVM_SET_DEBUGREGS", KVMIO, 0xa2, KvmDebugregs.SIZEOF);
    public static final IoctlRequest KVM_GET_XSAVE = IoctlRequest.ior("KVM_GET_XSAVE", KVMIO, 0xa4, KvmXsave.SIZEOF);
    public static final IoctlRequest KVM_SET_XSAVE = IoctlRequest.iow("KVM_SET_XSAVE", KVMIO, 0xa5, KvmXsave.SIZEOF);
    public static final IoctlRequest KVM_GET_XCRS = IoctlRequest.ior("KVM_GET_XCRS", KVMIO, 0xa6, KvmXcrs.SIZEOF);
    public static final IoctlRequest KVM_SET_XCRS = IoctlRequest.iow("KVM_SET_XCRS", KVMIO, 0xa7, KvmXcrs.SIZEOF);
    /** KVM_GET_XSAVE for an area larger than 4 KiB: as many bytes as KVM_CAP_XSAVE2 on the VM says. */
    public static final IoctlRequest KVM_GET_XSAVE2 = IoctlRequest.ior("KVM_GET_XSAVE2", KVMIO, 0xcf, KvmXsave.SIZEOF);
    public static final IoctlRequest KVM_SET_CPUID2 = IoctlRequest.iow("KVM_SET_CPUID2", KVMIO, 0x90, KvmCpuid2.SIZEOF);
}
