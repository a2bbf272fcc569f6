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
    public static final IoctlRequest KVM_SET_CPUID2 = IoctlRequest.iow("KVM_SET_CPUID2", KVMIO, 0x90, KvmCpuid2.SIZEOF);
}
