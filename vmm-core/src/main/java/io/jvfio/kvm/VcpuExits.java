package io.jvfio.kvm;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;

import static io.jvfio.vmm.linux.kvm.KvmConstants.*;

/**
 * How many times a vCPU left the guest, per exit reason. Counted by the vCPU thread without
 * allocating; read by anyone (KVM's own io/mmio statistics do not count these paths on every
 * machine, so the VMM counts).
 */
public final class VcpuExits {

    private final AtomicLongArray counts;

    VcpuExits(int reasons) {
        counts = new AtomicLongArray(reasons);
    }

    void count(int reason) {
        if (reason >= 0 && reason < counts.length()) {
            counts.incrementAndGet(reason);
        }
    }

    public long get(int reason) {
        return reason >= 0 && reason < counts.length() ? counts.get(reason) : 0;
    }

    public long io() {
        return get(KVM_EXIT_IO);
    }

    public long mmio() {
        return get(KVM_EXIT_MMIO);
    }

    public long total() {
        long n = 0;
        for (int i = 0; i < counts.length(); i++) {
            n += counts.get(i);
        }
        return n;
    }

    /** The reasons seen, by name, with their counts. */
    public Map<String, Long> byReason() {
        Map<String, Long> m = new LinkedHashMap<>();
        for (int i = 0; i < counts.length(); i++) {
            long n = counts.get(i);
            if (n > 0) {
                m.put(name(i), n);
            }
        }
        return m;
    }

    /** KVM's name for an exit reason, without the KVM_EXIT_ prefix. */
    public static String name(int reason) {
        return switch (reason) {
            case KVM_EXIT_UNKNOWN -> "UNKNOWN";
            case KVM_EXIT_EXCEPTION -> "EXCEPTION";
            case KVM_EXIT_IO -> "IO";
            case KVM_EXIT_HYPERCALL -> "HYPERCALL";
            case KVM_EXIT_DEBUG -> "DEBUG";
            case KVM_EXIT_HLT -> "HLT";
            case KVM_EXIT_MMIO -> "MMIO";
            case KVM_EXIT_IRQ_WINDOW_OPEN -> "IRQ_WINDOW_OPEN";
            case KVM_EXIT_SHUTDOWN -> "SHUTDOWN";
            case KVM_EXIT_FAIL_ENTRY -> "FAIL_ENTRY";
            case KVM_EXIT_INTR -> "INTR";
            case KVM_EXIT_INTERNAL_ERROR -> "INTERNAL_ERROR";
            case KVM_EXIT_SYSTEM_EVENT -> "SYSTEM_EVENT";
            default -> "reason " + reason;
        };
    }

    @Override
    public String toString() {
        return byReason().toString();
    }
}
