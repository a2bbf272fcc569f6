package io.jvfio.benchmarks;

import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.InterruptRouterConfig;
import io.jvfio.irq.MsiMessage;
import io.jvfio.irq.RouteKind;
import io.jvfio.irq.VirtualInterruptController;
import io.jvfio.irq.WaitStrategyOption;
import io.jvfio.vmm.linux.Epoll;
import io.jvfio.vmm.linux.EventFd;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static io.jvfio.vmm.linux.LinuxConstants.EPOLLIN;

/**
 * Interrupt latency: a device's eventfd write until the interrupt is delivered, sampled one
 * interrupt at a time. {@code ring} goes through jvfio's path (epoll poller, Disruptor ring,
 * dispatcher, routing table, virtual local APIC) for each wait strategy; {@code rawEventfd} is the
 * floor under it, measured in the same run: eventfd write, a thread woken from epoll_wait, read.
 * The waiting benchmark thread yields rather than spins, so that on a 2-core machine the threads it
 * waits for can run.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class InterruptLatencyBenchmark {

    /** jvfio's interrupt path with one route, for one wait strategy. */
    @State(Scope.Benchmark)
    public static class Ring {
        @Param({"blocking", "sleeping", "yielding", "busy-spin"})
        public String wait;

        final AtomicLong delivered = new AtomicLong();
        EventFd device;
        InterruptRouter router;

        @Setup(Level.Trial)
        public void setup() {
            VirtualInterruptController apics = new VirtualInterruptController(1);
            apics.apic(0).addListener((apic, vector) -> delivered.incrementAndGet());
            device = new EventFd("benchmark-device");
            router = new InterruptRouter(apics,
                    InterruptRouterConfig.DEFAULT.withWaitStrategy(WaitStrategyOption.of(wait)));
            router.addMsi("benchmark", RouteKind.MSIX, device, MsiMessage.fixed(0, 0x40), false);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            router.close();
            device.close();
        }
    }

    /** The floor: one thread blocked in epoll_wait on one eventfd, reading it when woken. */
    @State(Scope.Benchmark)
    public static class Raw {
        final AtomicLong delivered = new AtomicLong();
        EventFd device;
        EventFd stop;
        Epoll epoll;
        Thread waiter;
        volatile boolean running = true;

        @Setup(Level.Trial)
        public void setup() {
            device = new EventFd("benchmark-raw");
            stop = new EventFd("benchmark-raw-stop");
            epoll = new Epoll("benchmark-raw", 4);
            epoll.add(device.fd(), EPOLLIN, 1);
            epoll.add(stop.fd(), EPOLLIN, 2);
            waiter = new Thread(() -> {
                while (running) {
                    int n = epoll.waitReady(-1);
                    for (int i = 0; i < n; i++) {
                        if (epoll.readyData(i) == 1 && device.read() != 0) {
                            delivered.incrementAndGet();
                        }
                    }
                }
            }, "benchmark-raw-waiter");
            waiter.setDaemon(true);
            waiter.start();
        }

        @TearDown(Level.Trial)
        public void tearDown() throws InterruptedException {
            running = false;
            stop.signal();
            waiter.join();
            epoll.close();
            device.close();
            stop.close();
        }
    }

    @Benchmark
    public long ring(Ring s) {
        return interruptAndWait(s.device, s.delivered);
    }

    @Benchmark
    public long rawEventfd(Raw s) {
        return interruptAndWait(s.device, s.delivered);
    }

    /** Signals the device's eventfd and yields until the delivery count moves. */
    private static long interruptAndWait(EventFd device, AtomicLong delivered) {
        long before = delivered.get();
        device.signal();
        long now;
        while ((now = delivered.get()) == before) {
            Thread.yield();
        }
        return now;
    }
}
