package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.bus.AccessSize;
import io.jvfio.vmm.linux.MemoryMapping;
import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct kvm_run}: the page a vCPU shares with its VMM through mmap of the vCPU fd. After
 * KVM_RUN returns, {@link #exitReason()} says why and the matching union member (io, mmio, ...)
 * holds the details; for port I/O the data lives in the same mapping at {@link #ioDataOffset()}.
 */
public final class KvmRun extends NativeStruct {

    public static final int REQUEST_INTERRUPT_WINDOW = 0;
    public static final int IMMEDIATE_EXIT = 1;
    public static final int PADDING1 = 2;
    public static final int EXIT_REASON = 8;
    public static final int READY_FOR_INTERRUPT_INJECTION = 12;
    public static final int IF_FLAG = 13;
    public static final int FLAGS = 14;
    public static final int CR8 = 16;
    public static final int APIC_BASE = 24;
    /** Start of the exit-reason union. */
    public static final int EXIT_UNION = 32;
    // KVM_EXIT_IO
    public static final int IO_DIRECTION = 32;
    public static final int IO_SIZE = 33;
    public static final int IO_PORT = 34;
    public static final int IO_COUNT = 36;
    public static final int IO_DATA_OFFSET = 40;
    // KVM_EXIT_MMIO
    public static final int MMIO_PHYS_ADDR = 32;
    public static final int MMIO_DATA = 40;
    public static final int MMIO_LEN = 48;
    public static final int MMIO_IS_WRITE = 52;
    // KVM_EXIT_UNKNOWN, KVM_EXIT_FAIL_ENTRY, KVM_EXIT_EXCEPTION
    public static final int HW_HARDWARE_EXIT_REASON = 32;
    public static final int FAIL_ENTRY_HARDWARE_ENTRY_FAILURE_REASON = 32;
    public static final int FAIL_ENTRY_CPU = 40;
    public static final int EX_EXCEPTION = 32;
    public static final int EX_ERROR_CODE = 36;
    // KVM_EXIT_INTERNAL_ERROR, KVM_EXIT_SYSTEM_EVENT
    public static final int INTERNAL_SUBERROR = 32;
    public static final int INTERNAL_NDATA = 36;
    public static final int INTERNAL_DATA = 40;
    public static final int SYSTEM_EVENT_TYPE = 32;
    public static final int SYSTEM_EVENT_NDATA = 36;
    public static final int SYSTEM_EVENT_DATA = 40;
    public static final int KVM_VALID_REGS = 288;
    public static final int KVM_DIRTY_REGS = 296;
    public static final int S = 304;
    public static final int SIZEOF = 2352;

    public static final StructLayout LAYOUT = StructLayout.of("linux/kvm.h", "kvm_run", SIZEOF)
            .field("request_interrupt_window", REQUEST_INTERRUPT_WINDOW, 1)
            .field("immediate_exit", IMMEDIATE_EXIT, 1)
            .field("padding1", PADDING1, 6)
            .field("exit_reason", EXIT_REASON, 4)
            .field("ready_for_interrupt_injection", READY_FOR_INTERRUPT_INJECTION, 1)
            .field("if_flag", IF_FLAG, 1)
            .field("flags", FLAGS, 2)
            .field("cr8", CR8, 8)
            .field("apic_base", APIC_BASE, 8)
            .field("io.direction", IO_DIRECTION, 1)
            .field("io.size", IO_SIZE, 1)
            .field("io.port", IO_PORT, 2)
            .field("io.count", IO_COUNT, 4)
            .field("io.data_offset", IO_DATA_OFFSET, 8)
            .field("mmio.phys_addr", MMIO_PHYS_ADDR, 8)
            .field("mmio.data", MMIO_DATA, 8)
            .field("mmio.len", MMIO_LEN, 4)
            .field("mmio.is_write", MMIO_IS_WRITE, 1)
            .field("hw.hardware_exit_reason", HW_HARDWARE_EXIT_REASON, 8)
            .field("fail_entry.hardware_entry_failure_reason", FAIL_ENTRY_HARDWARE_ENTRY_FAILURE_REASON, 8)
            .field("fail_entry.cpu", FAIL_ENTRY_CPU, 4)
            .field("ex.exception", EX_EXCEPTION, 4)
            .field("ex.error_code", EX_ERROR_CODE, 4)
            .field("internal.suberror", INTERNAL_SUBERROR, 4)
            .field("internal.ndata", INTERNAL_NDATA, 4)
            .field("internal.data", INTERNAL_DATA, 128)
            .field("system_event.type", SYSTEM_EVENT_TYPE, 4)
            .field("system_event.ndata", SYSTEM_EVENT_NDATA, 4)
            .field("system_event.data", SYSTEM_EVENT_DATA, 128)
            .field("kvm_valid_regs", KVM_VALID_REGS, 8)
            .field("kvm_dirty_regs", KVM_DIRTY_REGS, 8)
            .field("s", S, 2048)
            .build();

    /** A view of the vCPU's mapping (KVM_GET_VCPU_MMAP_SIZE bytes, at least {@link #SIZEOF}). */
    public KvmRun(MemoryMapping vcpuMapping) {
        super(vcpuMapping.byteBuffer(), vcpuMapping.address());
        if (vcpuMapping.length() < SIZEOF) {
            throw new IllegalArgumentException(vcpuMapping + " is smaller than struct kvm_run");
        }
    }

    public int exitReason() {
        return u32(EXIT_REASON);
    }

    /** Set to make the next KVM_RUN return at once with EINTR (KVM_CAP_IMMEDIATE_EXIT): how a vCPU is kicked. */
    public void immediateExit(boolean exit) {
        putU8(IMMEDIATE_EXIT, exit ? 1 : 0);
    }

    public void requestInterruptWindow(boolean request) {
        putU8(REQUEST_INTERRUPT_WINDOW, request ? 1 : 0);
    }

    public boolean readyForInterruptInjection() {
        return u8(READY_FOR_INTERRUPT_INJECTION) != 0;
    }

    public boolean ifFlag() {
        return u8(IF_FLAG) != 0;
    }

    /** KVM_EXIT_IO_IN or KVM_EXIT_IO_OUT. */
    public int ioDirection() {
        return u8(IO_DIRECTION);
    }

    /** Bytes per access: 1, 2 or 4. */
    public int ioSize() {
        return u8(IO_SIZE);
    }

    public int ioPort() {
        return u16(IO_PORT);
    }

    /** Repetitions (a {@code rep ins/outs} string instruction). */
    public int ioCount() {
        return u32(IO_COUNT);
    }

    /** Where the data of a port access sits, from the start of this mapping. */
    public long ioDataOffset() {
        return u64(IO_DATA_OFFSET);
    }

    public long mmioPhysAddr() {
        return u64(MMIO_PHYS_ADDR);
    }

    /** Bytes accessed: 1, 2, 4 or 8. */
    public int mmioLen() {
        return u32(MMIO_LEN);
    }

    public boolean mmioIsWrite() {
        return u8(MMIO_IS_WRITE) != 0;
    }

    /** The data of an MMIO write, little-endian in {@code mmio.data}, as an unsigned value of mmioLen bytes. */
    public long mmioData() {
        return AccessSize.mask(u64(MMIO_DATA), mmioLen());
    }

    /** Stores the value an MMIO read returns to the guest. */
    public void mmioData(long value) {
        putU64(MMIO_DATA, value);
    }

    public long failEntryHardwareEntryFailureReason() {
        return u64(FAIL_ENTRY_HARDWARE_ENTRY_FAILURE_REASON);
    }

    public long hwHardwareExitReason() {
        return u64(HW_HARDWARE_EXIT_REASON);
    }

    public int internalSuberror() {
        return u32(INTERNAL_SUBERROR);
    }

    public int internalNdata() {
        return u32(INTERNAL_NDATA);
    }

    public long internalData(int i) {
        return u64(INTERNAL_DATA + 8 * i);
    }

    public int systemEventType() {
        return u32(SYSTEM_EVENT_TYPE);
    }
}
