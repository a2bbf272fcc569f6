package io.jvfio.irq;

/**
 * How an {@link InterruptRouter} is built: the ring's size (a power of two), how its dispatcher
 * waits, and how many routes it can hold.
 */
public record InterruptRouterConfig(int ringSize, WaitStrategyOption waitStrategy, int maxRoutes) {

    public static final InterruptRouterConfig DEFAULT = new InterruptRouterConfig(4096, WaitStrategyOption.BLOCKING,
            4096);

    public InterruptRouterConfig {
        if (ringSize < 2 || Integer.bitCount(ringSize) != 1) {
            throw new IllegalArgumentException("the interrupt ring's size must be a power of two, not " + ringSize);
        }
        if (maxRoutes < 1) {
            throw new IllegalArgumentException("maxRoutes must be positive: " + maxRoutes);
        }
    }

    public InterruptRouterConfig withWaitStrategy(WaitStrategyOption w) {
        return new InterruptRouterConfig(ringSize, w, maxRoutes);
    }

    public InterruptRouterConfig withRingSize(int size) {
        return new InterruptRouterConfig(size, waitStrategy, maxRoutes);
    }
}
