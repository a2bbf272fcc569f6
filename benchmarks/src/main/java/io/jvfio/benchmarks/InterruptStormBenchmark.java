package io.jvfio.benchmarks;

import io.jvfio.benchmarks.support.AllocationMeter;
import io.jvfio.benchmarks.support.BenchNotes;
import io.jvfio.irq.DeliveryThread;
import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.InterruptRouterConfig;
import io.jvfio.irq.MsiMessage;
import io.jvfio.irq.RouteKind;
import io.jvfio.irq.RouteStats;
import io.jvfio.irq.VirtualInterruptController;
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
import org.openjdk.jmh.infra.BenchmarkParams;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Interrupts under a storm, through the two delivery threads of {@link DeliveryThread}: {@code ring}
 * (the poller publishes into the Disruptor ring, blocking wait strategy, and the dispatcher delivers)
 * and {@code poller} (the poller delivers what it reads), into the virtual local APIC (no KVM), with
 * {@code vectors} device eventfds (one MSI-X route each, a vector each).
 *
 * <ul>
 * <li>{@code burst}: every vector signalled once, back to back, by the benchmark thread, which then
 *     blocks (parks; the APIC's listener unparks it at the burst's last message) until all of them
 *     reached the APIC: the time a burst takes to complete, sampled. One signal per eventfd, so no two
 *     of a burst can coalesce and every burst is exactly {@code vectors} messages.</li>
 * <li>{@code flood}: the benchmark thread signals the eventfds round robin as fast as it can, never
 *     waiting: the time per signal while the delivery path runs beside it on the other core (on 2
 *     cores, the ring's three threads share them), and, in the note, the messages and interrupts
 *     delivered per second, how many coalesced in the eventfds, and the backlog left when the
 *     producer stopped.</li>
 * </ul>
 */
@State(Scope.Benchmark)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class InterruptStormBenchmark {

    /** Which thread delivers: the ring's dispatcher, or the poller itself. */
    @Param({"ring", "poller"})
    public String delivery;

    @Param({"1", "8", "64"})
    public int vectors;

    private final AtomicLong messages = new AtomicLong();
    private volatile long target = Long.MAX_VALUE;
    private volatile Thread waiter;
    private EventFd[] devices;
    private InterruptRoute[] routes;
    private InterruptRouter router;
    private int next;

    private long floodSignals;
    private long floodNanos;
    private long floodMessages;
    private long floodIncrements;
    private long floodBacklog;
    private long iterationStart;
    private long signalsAtStart;
    private long messagesAtStart;
    private long incrementsAtStart;
    private long signals;

    @Setup(Level.Trial)
    public void setup() {
        VirtualInterruptController apics = new VirtualInterruptController(1);
        apics.apic(0).addListener((apic, vector) -> {
            if (messages.incrementAndGet() >= target) {
                LockSupport.unpark(waiter);
            }
        });
        InterruptRouterConfig config = InterruptRouterConfig.DEFAULT.withDeliveryThread(
                delivery.equals("poller") ? DeliveryThread.POLLER : DeliveryThread.DISPATCHER);
        router = new InterruptRouter(apics, config);
        devices = new EventFd[vectors];
        routes = new InterruptRoute[vectors];
        for (int i = 0; i < vectors; i++) {
            devices[i] = new EventFd("storm-" + i);
            routes[i] = router.addMsi("storm " + i, RouteKind.MSIX, devices[i], MsiMessage.fixed(0, 0x40 + i), false);
        }
        waiter = Thread.currentThread();
    }

    @Setup(Level.Iteration)
    public void iterationStart() {
        waiter = Thread.currentThread();
        iterationStart = System.nanoTime();
        signalsAtStart = signals;
        messagesAtStart = messages.get();
        incrementsAtStart = increments();
    }

    /** The flood's figures of the last iteration, taken as the producer stops. */
    @TearDown(Level.Iteration)
    public void iterationEnd() throws InterruptedException {
        long now = System.nanoTime();
        floodNanos = now - iterationStart;
        floodSignals = signals - signalsAtStart;
        floodMessages = messages.get() - messagesAtStart;
        floodIncrements = increments() - incrementsAtStart;
        floodBacklog = floodSignals - floodIncrements;
        // Let the delivery path catch up before the next iteration, so that none inherits a backlog.
        long deadline = now + 10_000_000_000L;
        while (increments() < signals && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
    }

    private long increments() {
        long sum = 0;
        for (InterruptRoute r : routes) {
            sum += r.stats().delivered();
        }
        return sum;
    }

    @TearDown(Level.Trial)
    public void tearDown(BenchmarkParams params) {
        String note;
        if (params.getBenchmark().endsWith(".flood")) {
            double seconds = floodNanos / 1e9;
            note = String.format("last iteration: %,.0f signals/s, %,.0f interrupts/s delivered in %,.0f messages/s "
                            + "(%.1f%% coalesced in the eventfds), %,d not yet delivered when the producer stopped",
                    floodSignals / seconds, floodIncrements / seconds, floodMessages / seconds,
                    floodIncrements == 0 ? 0.0 : 100.0 * (floodIncrements - floodMessages) / floodIncrements,
                    floodBacklog);
        } else {
            long coalesced = 0;
            for (InterruptRoute r : routes) {
                RouteStats s = r.stats();
                coalesced += s.coalesced();
            }
            note = String.format("%,d messages to the APIC, %d coalesced; %s", messages.get(), coalesced,
                    AllocationMeter.measure(this::burst));
        }
        BenchNotes.write(params, note);
        router.close();
        for (EventFd d : devices) {
            d.close();
        }
    }

    /** Signals every vector once and blocks until all of them reached the APIC. */
    @Benchmark
    @BenchmarkMode(Mode.SampleTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public long burst() {
        long end = messages.get() + vectors;
        target = end;
        for (EventFd d : devices) {
            d.signal();
        }
        long now;
        while ((now = messages.get()) < end) {
            LockSupport.park(this);
        }
        target = Long.MAX_VALUE;
        return now;
    }

    /** One signal of the flood, round robin over the vectors; the producer never waits. */
    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.NANOSECONDS)
    public void flood() {
        devices[next].signal();
        next = next + 1 == vectors ? 0 : next + 1;
        signals++;
    }
}
