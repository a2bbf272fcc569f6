package io.jvfio.irq;

/**
 * How an {@link InterruptRouter} is built: the ring's size (a power of two), how its dispatcher
 * waits, how many routes it can hold, and which thread delivers ({@link DeliveryThread}).
 */
public record InterruptRouterConfig(int ringSize, WaitStrategyOption waitStrategy, int maxRoutes,
                                    DeliveryThread deliveryThread) {

    public static final InterruptRouterConfig DEFAULT = new InterruptRouterConfig(4096, WaitStrategyOption.BLOCKING,
            4096, DeliveryThread.DISPATCHER);

    public InterruptRouterConfig {
        if (ringSize < 2 || Integer.bitCount(ringSize) != 1) {
            throw new IllegalArgumentException("the interrupt ring's size must be a power of two, not " + ringSize);
        }
        if (maxRoutes < 1) {
            throw new IllegalArgumentException("maxRoutes must be positive: " + maxRoutes);
        }
        if (deliveryThread == null) {
            throw new IllegalArgumentException("deliveryThread must be given: DISPATCHER or POLLER");
        }
    }

    public InterruptRouterConfig withWaitStrategy(WaitStrategyOption w) {
        return new InterruptRouterConfig(ringSize, w, maxRoutes, deliveryThread);
    }

    public InterruptRouterConfig withRingSize(int size) {
        return new InterruptRouterConfig(size, waitStrategy, maxRoutes, deliveryThread);
    }

    public InterruptRouterConfig withDeliveryThread(DeliveryThread d) {
        return new InterruptRouterConfig(ringSize, waitStrategy, maxRoutes, d);
    }
}
