package io.jvfio.kvm;

import io.jvfio.vmm.bus.AddressSpace;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The vCPUs of one VM, each run by a thread of its own ({@code vcpu0}, {@code vcpu1}, ...): KVM_RUN
 * blocks for as long as the guest runs or halts, and KVM ties a vCPU to the thread that last ran it
 * ({@code vcpu->pid}, which directed yield uses), so each vCPU has a thread of its own. They are started
 * together, stopped together (each is stopped and kicked out of the kernel, see {@link KvmVcpu#stop}),
 * and awaited together: the first vCPU that fails, triple-faults or asks for reset or power-off stops
 * the others, since on hardware those end the whole machine. Waiting blocks; nothing spins.
 */
public final class Vcpus {

    private static final ThreadLocal<KvmVcpu> CURRENT = new ThreadLocal<>();

    private final List<KvmVcpu> vcpus;
    private final Object lock = new Object();
    // One run of all the vCPUs, from start() until every thread has ended; guarded by lock.
    private KvmVcpu.Stop[] stops;
    private Thread[] threads;
    private boolean[] ended;
    private int running;
    private Throwable failure;

    /** The vCPUs, in the order their results are reported; they stay the caller's to close. */
    public Vcpus(List<KvmVcpu> vcpus) {
        if (vcpus.isEmpty()) {
            throw new IllegalArgumentException("no vCPUs: a VM runs at least one");
        }
        this.vcpus = List.copyOf(vcpus);
    }

    /** The vCPU the calling thread runs, or null on any other thread (a device needing its registers). */
    public static KvmVcpu current() {
        return CURRENT.get();
    }

    public List<KvmVcpu> vcpus() {
        return vcpus;
    }

    public int size() {
        return vcpus.size();
    }

    public KvmVcpu get(int index) {
        return vcpus.get(index);
    }

    /**
     * Runs every vCPU on a thread of its own, its port I/O and MMIO exits going to {@code space}
     * (which must be safe for concurrent access). The threads are daemons, so that a guest that never
     * stops does not keep the JVM alive. Once all have ended, the vCPUs may be started again and
     * continue where they stopped.
     */
    public Vcpus start(AddressSpace space) {
        synchronized (lock) {
            if (running > 0) {
                throw new IllegalStateException(runningNames() + " still running: stop and await them before starting "
                        + "again");
            }
            int n = vcpus.size();
            stops = new KvmVcpu.Stop[n];
            threads = new Thread[n];
            ended = new boolean[n];
            failure = null;
            running = n;
            for (int i = 0; i < n; i++) {
                int index = i;
                KvmVcpu vcpu = vcpus.get(i);
                Thread t = new Thread(() -> runOne(index, vcpu, space), "vcpu" + vcpu.id());
                t.setDaemon(true);
                threads[i] = t;
            }
            for (Thread t : threads) {
                t.start();
            }
        }
        return this;
    }

    private void runOne(int index, KvmVcpu vcpu, AddressSpace space) {
        CURRENT.set(vcpu);
        KvmVcpu.Stop stop = null;
        Throwable failed = null;
        try {
            stop = vcpu.run(space);
        } catch (Throwable t) {
            failed = t;
        } finally {
            CURRENT.remove();
        }
        boolean machineEnds = failed != null || stop == KvmVcpu.Stop.SHUTDOWN || stop == KvmVcpu.Stop.SYSTEM_EVENT;
        if (machineEnds) {
            // Not this one: its run has ended, and a request left on it would end its next run at once.
            for (KvmVcpu v : vcpus) {
                if (v != vcpu) {
                    try {
                        v.stop();
                    } catch (RuntimeException e) {
                        // This thread still counts itself ended below (or every awaitAll would time out).
                        if (failed == null) {
                            failed = e;
                        } else {
                            failed.addSuppressed(e);
                        }
                    }
                }
            }
        }
        synchronized (lock) {
            stops[index] = stop;
            ended[index] = true;
            if (failed != null) {
                if (failure == null) {
                    failure = failed;
                } else if (failure != failed) {
                    failure.addSuppressed(failed);
                }
            }
            running--;
            lock.notifyAll();
        }
    }

    /** Whether some vCPU of the last {@link #start} is still in its run loop. */
    public boolean running() {
        synchronized (lock) {
            return running > 0;
        }
    }

    /**
     * Stops every vCPU, from any thread (also from a device on a vCPU thread): each run loop ends with
     * {@link KvmVcpu.Stop#REQUESTED}, a vCPU halted in the kernel is kicked out. Returns at once; see
     * {@link #awaitAll} for the wait.
     */
    public void stopAll() {
        for (KvmVcpu v : vcpus) {
            v.stop();
        }
    }

    /**
     * Waits up to {@code timeout} for every vCPU's run loop to end and returns why each ended, in
     * order. The first failure of any vCPU is thrown (later ones are suppressed in it) once all have
     * ended; it stopped the others.
     *
     * @throws TimeoutException naming the vCPUs still running (they are left running: stop them)
     */
    public List<KvmVcpu.Stop> awaitAll(Duration timeout) throws InterruptedException, TimeoutException {
        synchronized (lock) {
            if (threads == null) {
                throw new IllegalStateException("the vCPUs were never started");
            }
            long deadline = System.nanoTime() + timeout.toNanos();
            while (running > 0) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new TimeoutException(runningNames() + " still running after " + timeout.toMillis() + " ms");
                }
                TimeUnit.NANOSECONDS.timedWait(lock, left);
            }
            if (failure instanceof RuntimeException e) {
                throw e;
            }
            if (failure instanceof Error e) {
                throw e;
            }
            if (failure != null) {
                throw new IllegalStateException("a vCPU failed", failure);
            }
            return List.of(stops);
        }
    }

    /** The exits of {@code reason} ({@code KVM_EXIT_*}) summed over every vCPU. */
    public long exits(int reason) {
        long sum = 0;
        for (KvmVcpu v : vcpus) {
            sum += v.exits().get(reason);
        }
        return sum;
    }

    private String runningNames() {
        List<String> names = new ArrayList<>();
        for (int i = 0; threads != null && i < threads.length; i++) {
            if (!ended[i]) {
                names.add(threads[i].getName());
            }
        }
        return names.isEmpty() ? "vCPUs" : String.join(", ", names);
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder();
        for (KvmVcpu v : vcpus) {
            b.append(b.length() == 0 ? "" : "; ").append(v);
        }
        return b.toString();
    }
}
