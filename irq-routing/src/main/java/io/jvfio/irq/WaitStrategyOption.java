package io.jvfio.irq;

import com.lmax.disruptor.BlockingWaitStrategy;
import com.lmax.disruptor.BusySpinWaitStrategy;
import com.lmax.disruptor.SleepingWaitStrategy;
import com.lmax.disruptor.WaitStrategy;
import com.lmax.disruptor.YieldingWaitStrategy;

/**
 * How the ring's dispatcher ({@link DeliveryThread#DISPATCHER}) waits for the next interrupt. The default blocks: on a machine with few cores,
 * a spinning dispatcher takes a core from the vCPUs and the poller that feeds it.
 */
public enum WaitStrategyOption {
    /** Sleeps on a lock until the poller publishes: no CPU while idle, a wake-up per interrupt. */
    BLOCKING("blocking"),
    /** Spins, then yields, then sleeps in short naps: low CPU, latency up to a nap. */
    SLEEPING("sleeping"),
    /** Spins, then yields the CPU: low latency, a core busy while other threads are idle. */
    YIELDING("yielding"),
    /** Spins: the lowest latency, a whole core, only for dedicated cores. */
    BUSY_SPIN("busy-spin");

    private final String option;

    WaitStrategyOption(String option) {
        this.option = option;
    }

    /** The word used in options: blocking, sleeping, yielding, busy-spin. */
    public String option() {
        return option;
    }

    public static WaitStrategyOption of(String option) {
        for (WaitStrategyOption w : values()) {
            if (w.option.equals(option)) {
                return w;
            }
        }
        throw new IllegalArgumentException("unknown wait strategy '" + option + "' (blocking, sleeping, yielding, "
                + "busy-spin)");
    }

    WaitStrategy create() {
        return switch (this) {
            case BLOCKING -> new BlockingWaitStrategy();
            case SLEEPING -> new SleepingWaitStrategy();
            case YIELDING -> new YieldingWaitStrategy();
            case BUSY_SPIN -> new BusySpinWaitStrategy();
        };
    }
}
