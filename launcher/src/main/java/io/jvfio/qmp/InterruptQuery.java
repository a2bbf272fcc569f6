package io.jvfio.qmp;

import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.RouteKind;
import io.jvfio.irq.RouteStats;
import io.jvfio.machine.VirtualMachine;
import io.jvfio.vmm.device.AttachedDevices;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code x-query-interrupts} (jvfio's own command, hence QEMU's {@code x-} prefix for unstable ones): per
 * device and interrupt vector, how its interrupts travel and what the route's statistics
 * ({@link RouteStats}) counted. A vector's latest route is shown (a route re-created when the guest
 * reprograms MSI-X replaces the earlier one; INTx routes stay after MSI-X took over, with their counts).
 * {@code path} is {@code irqfd} for a route KVM delivers itself (the bypass; user space then sees only
 * what passed while masked or being programmed), {@code ring} for one the poller and the Disruptor ring
 * carry. Latencies are from the eventfd's read to the delivery, in nanoseconds, over the ring's
 * deliveries.
 */
final class InterruptQuery {

    private InterruptQuery() {
    }

    static List<Object> query(VirtualMachine vm) {
        // The latest route of each name, in the order they were first added.
        Map<String, InterruptRoute> latest = new LinkedHashMap<>();
        for (InterruptRoute r : vm.router().history()) {
            latest.put(r.name(), r);
        }
        List<Object> devices = new ArrayList<>();
        for (AttachedDevices.Attached a : vm.devices().attached()) {
            String prefix = a.function().name() + " ";
            List<Object> vectors = new ArrayList<>();
            for (InterruptRoute r : latest.values()) {
                if (r.name().startsWith(prefix)) {
                    vectors.add(vector(r, r.name().substring(prefix.length())));
                }
            }
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("qdev_id", a.config().id() == null ? "" : a.config().id());
            d.put("slot", (long) a.at().slot());
            d.put("function", (long) a.at().function());
            d.put("name", a.function().name());
            d.put("vectors", vectors);
            devices.add(d);
        }
        return devices;
    }

    private static Map<String, Object> vector(InterruptRoute r, String vector) {
        RouteStats st = r.stats();
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("vector", vector);
        v.put("kind", r.kind() == RouteKind.MSIX ? "msix" : r.kind() == RouteKind.MSI ? "msi" : "intx");
        v.put("path", r.path());
        v.put("delivered", st.delivered());
        v.put("coalesced", st.coalesced());
        v.put("masked-pending", st.maskedPending());
        v.put("undeliverable", st.undeliverable());
        v.put("pending", st.pending());
        v.put("latency-count", st.latencyCount());
        v.put("latency-p50-ns", st.latencyP50Nanos());
        v.put("latency-p99-ns", st.latencyP99Nanos());
        v.put("latency-max-ns", st.latencyMaxNanos());
        return v;
    }
}
