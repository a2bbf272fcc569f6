package io.jvfio.irq.jmx;

import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.RouteStats;

import java.util.Locale;

/** The MXBean of one route: each attribute read takes the route's statistics afresh. */
final class InterruptVector implements InterruptVectorMXBean {

    private final InterruptRoute route;
    private final String device;
    private final int vector;

    InterruptVector(InterruptRoute route, String device, int vector) {
        this.route = route;
        this.device = device;
        this.vector = vector;
    }

    static String kind(InterruptRoute route) {
        return route.kind().name().toLowerCase(Locale.ROOT);
    }

    private RouteStats stats() {
        return route.stats();
    }

    @Override
    public String getDevice() {
        return device;
    }

    @Override
    public String getKind() {
        return kind(route);
    }

    @Override
    public int getVector() {
        return vector;
    }

    @Override
    public String getRoute() {
        return route.name();
    }

    @Override
    public String getPath() {
        return route.path();
    }

    @Override
    public boolean isBypassed() {
        return route.bypassed();
    }

    @Override
    public boolean isMasked() {
        return route.masked();
    }

    @Override
    public boolean isPending() {
        return route.pending();
    }

    @Override
    public long getDelivered() {
        return stats().delivered();
    }

    @Override
    public long getCoalesced() {
        return stats().coalesced();
    }

    @Override
    public long getMaskedPending() {
        return stats().maskedPending();
    }

    @Override
    public long getUndeliverable() {
        return stats().undeliverable();
    }

    @Override
    public long getMessages() {
        return stats().messages();
    }

    @Override
    public long getLatencyCount() {
        return stats().latencyCount();
    }

    @Override
    public long getLatencyP50Nanos() {
        return stats().latencyP50Nanos();
    }

    @Override
    public long getLatencyP99Nanos() {
        return stats().latencyP99Nanos();
    }

    @Override
    public long getLatencyMaxNanos() {
        return stats().latencyMaxNanos();
    }
}
