package io.jvfio.benchmarks;

import io.jvfio.benchmarks.support.AllocationMeter;
import io.jvfio.benchmarks.support.BenchNotes;
import io.jvfio.benchmarks.support.KvmGuest;
import io.jvfio.irq.DeliveryThread;
import io.jvfio.irq.EmulatedTrigger;
import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.InterruptRouterConfig;
import io.jvfio.irq.MsiMessage;
import io.jvfio.irq.RouteKind;
import io.jvfio.irq.VirtualInterruptController;
import io.jvfio.irq.WaitStrategyOption;
import io.jvfio.kvm.irq.KvmIrqfdBypass;
import io.jvfio.kvm.irq.KvmMsiSink;
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
import org.openjdk.jmh.infra.BenchmarkParams;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static io.jvfio.vmm.linux.jna.LinuxConstants.EPOLLIN;

/**
 * Interrupt latency: a device's eventfd write until the interrupt is delivered, sampled one
 * interrupt at a time. {@code ring} goes through jvfio's path (epoll poller, Disruptor ring,
 * dispatcher, routing table) to the virtual local APIC, for each wait strategy, and, as
 * {@code wait=poller}, through the default path (the poller delivers, no ring); {@code kvmGuest}
 * ends in a KVM guest's interrupt handler ({@code src/main/guest/irq_wait.s}, halted between
 * interrupts, counting them in its RAM): through the ring and KVM_SIGNAL_MSI for each wait strategy,
 * through the irqfd bypass (the kernel delivers; no user-space thread on the path), and, as the floor
 * of KVM's own injection, KVM_SIGNAL_MSI called by the benchmark thread itself. {@code rawEventfd} is
 * the floor of any eventfd path, measured in the same run: eventfd write, a thread woken from
 * epoll_wait, read. The waiting benchmark thread yields rather than spins, so that on a 2-core
 * machine the threads it waits for can run.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class InterruptLatencyBenchmark {

    static final int VECTOR = 0x40;
    static final long COUNTER = 0x9000;
    static final VarHandle U64 = MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    /** A KVM guest waiting for interrupts, and the path they take to it. */
    @State(Scope.Benchmark)
    public static class KvmGuestIrq {
        @Param({"ring-blocking", "ring-sleeping", "ring-yielding", "ring-busy-spin", "poller", "irqfd", "signal-msi"})
        public String path;

        KvmGuest guest;
        ByteBuffer counter;
        EmulatedTrigger device;
        InterruptRouter router;
        InterruptRoute route;
        Thread vcpu;
        long raised;

        @Setup(Level.Trial)
        public void setup() throws InterruptedException {
            guest = new KvmGuest("irq_wait.bin");
            counter = guest.memory.ram().slice(COUNTER, 8);
            U64.setVolatile(counter, 0, -1L);
            vcpu = new Thread(() -> guest.vcpu.run(guest.space), "bench-vcpu");
            vcpu.setDaemon(true);
            vcpu.start();
            long deadline = System.nanoTime() + 10_000_000_000L;
            while ((long) U64.getVolatile(counter, 0) != 0) { // the guest has its IDT and APIC up
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("the interrupt guest did not start");
                }
                Thread.sleep(1);
            }
            Thread.sleep(50); // and is halted
            if (!path.equals("signal-msi")) {
                device = new EmulatedTrigger("bench-device");
                boolean bypass = path.equals("irqfd");
                InterruptRouterConfig config = bypass ? InterruptRouterConfig.DEFAULT
                        : path.equals("poller") ? InterruptRouterConfig.DEFAULT.withDeliveryThread(DeliveryThread.POLLER)
                        : InterruptRouterConfig.DEFAULT.withDeliveryThread(DeliveryThread.DISPATCHER)
                                .withWaitStrategy(WaitStrategyOption.of(path.substring("ring-".length())));
                router = new InterruptRouter(new KvmMsiSink(guest.vm), config, new KvmIrqfdBypass(guest.vm));
                route = router.addMsi("bench", RouteKind.MSIX, device.trigger(), MsiMessage.fixed(0, VECTOR), false,
                        bypass ? device : null);
                if (route.bypassed() != bypass) {
                    throw new IllegalStateException("the route is " + (bypass ? "not " : "") + "bypassed");
                }
            }
        }

        void raise() {
            if (device != null) {
                device.signal();
            } else {
                guest.vm.signalMsi(MsiMessage.ADDRESS_BASE, VECTOR);
            }
            raised++;
        }

        @TearDown(Level.Trial)
        public void tearDown(BenchmarkParams params) throws InterruptedException {
            String allocation = AllocationMeter.measure(() -> kvmGuestInterrupt(this));
            long counted = (long) U64.getVolatile(counter, 0);
            String how = route == null ? "KVM_SIGNAL_MSI from the benchmark thread"
                    : route.bypassed() ? String.format("a KVM irqfd: %,d passed user space", route.stats().delivered())
                    : String.format("%,d through the ring", route.stats().delivered());
            BenchNotes.write(params, String.format(
                    "%,d raised, %,d counted by the guest's handler; %s; %s", raised, counted, how, allocation));
            guest.vcpu.stop();
            vcpu.join(10_000);
            if (router != null) {
                router.close();
                device.close();
            }
            guest.close();
        }
    }

    /** jvfio's interrupt path with one route, for one wait strategy. */
    @State(Scope.Benchmark)
    public static class Ring {
        /** The dispatcher's wait strategy behind the ring, or "poller": the poller delivers, no ring. */
        @Param({"blocking", "sleeping", "yielding", "busy-spin", "poller"})
        public String wait;

        final AtomicLong delivered = new AtomicLong();
        EventFd device;
        InterruptRouter router;

        @Setup(Level.Trial)
        public void setup() {
            VirtualInterruptController apics = new VirtualInterruptController(1);
            apics.apic(0).addListener((apic, vector) -> delivered.incrementAndGet());
            device = new EventFd("benchmark-device");
            router = new InterruptRouter(apics, wait.equals("poller")
                    ? InterruptRouterConfig.DEFAULT.withDeliveryThread(DeliveryThread.POLLER)
                    : InterruptRouterConfig.DEFAULT.withDeliveryThread(DeliveryThread.DISPATCHER)
                            .withWaitStrategy(WaitStrategyOption.of(wait)));
            router.addMsi("benchmark", RouteKind.MSIX, device, MsiMessage.fixed(0, 0x40), false);
        }

        @TearDown(Level.Trial)
        public void tearDown(BenchmarkParams params) {
            String allocation = AllocationMeter.measure(() -> interruptAndWait(device, delivered));
            BenchNotes.write(params, String.format("%,d delivered to the "
                    + "APIC; %s", delivered.get(), allocation));
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
        public void tearDown(BenchmarkParams params) throws InterruptedException {
            BenchNotes.write(params,
                    AllocationMeter.measure(() -> interruptAndWait(device, delivered)));
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

    @Benchmark
    public long kvmGuest(KvmGuestIrq s) {
        return kvmGuestInterrupt(s);
    }

    /** Raises one interrupt and yields until the guest's handler has counted it. */
    private static long kvmGuestInterrupt(KvmGuestIrq s) {
        long before = (long) U64.getVolatile(s.counter, 0);
        s.raise();
        long now;
        while ((now = (long) U64.getVolatile(s.counter, 0)) == before) {
            Thread.yield();
        }
        return now;
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
