package io.jvfio.irq;

/**
 * How an {@link InterruptRouter} is built: which thread delivers ({@link DeliveryThread}), how many
 * routes it can hold, and, when the ring's dispatcher delivers, the ring's size (a power of two) and
 * how the dispatcher waits.
 *
 * <p>{@link #DEFAULT} delivers on the poller's thread: measured under storms of 1, 8 and 64 vectors
 * ({@code InterruptStormBenchmark}, README), a burst completes sooner than through the ring (8 vectors:
 * median 40 to 47 against 71 to 90 us, p99 0.16 to 0.19 against 0.35 to 2.6 ms) and a flood delivers
 * every interrupt at a producer rate within the noise of the ring's, with one thread less on a machine
 * with few cores.
 */
public record InterruptRouterConfig(int ringSize, WaitStrategyOption waitStrategy, int maxRoutes,
                                    DeliveryThread deliveryThread) {

    public static final InterruptRouterConfig DEFAULT = new InterruptRouterConfig(4096, WaitStrategyOption.BLOCKING,
            4096, DeliveryThread.POLLER);

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
