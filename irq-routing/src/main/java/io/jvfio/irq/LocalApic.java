package io.jvfio.irq;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * The interrupt state of one vCPU's local APIC: the Interrupt Request Register (vectors pending),
 * the Trigger Mode Register (which of them are level-triggered), the In-Service Register, and a
 * pending NMI. Interrupts are accepted from any thread (the dispatcher); acknowledging and ending
 * them is the vCPU's business, on its own thread.
 *
 * <p>Acceptance allocates nothing: one atomic OR on the IRR word. A vCPU halted waiting for an
 * interrupt registers a {@link #wakeUpHook}; others may register {@link Listener}s.
 */
public final class LocalApic {

    /** Told when a vector becomes pending, on the delivering thread. */
    @FunctionalInterface
    public interface Listener {
        void interruptPending(LocalApic apic, int vector);
    }

    private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);

    private final int apicId;
    private final VirtualInterruptController controller;
    private final long[] irr = new long[4];
    private final long[] tmr = new long[4];
    /** Owned by the vCPU thread. */
    private final long[] isr = new long[4];
    private volatile int logicalId;
    private volatile boolean nmiPending;
    private volatile Runnable wakeUpHook;
    /**
     * Copied on write by hand: iterating a CopyOnWriteArrayList allocates its iterator, once per
     * interrupt where C2's escape analysis has not removed it yet (seen with C1 alone).
     */
    private volatile Listener[] listeners = new Listener[0];

    LocalApic(int apicId, VirtualInterruptController controller) {
        this.apicId = apicId;
        this.controller = controller;
    }

    public int apicId() {
        return apicId;
    }

    /** The logical APIC ID (LDR bits 31:24, flat model): a bit mask matched against logical destinations. */
    public int logicalId() {
        return logicalId;
    }

    public void setLogicalId(int logicalId) {
        this.logicalId = logicalId & 0xFF;
    }

    /** Runs on the delivering thread whenever an interrupt arrives: how a halted vCPU is woken. */
    public void wakeUpHook(Runnable hook) {
        this.wakeUpHook = hook;
    }

    public synchronized void addListener(Listener listener) {
        Listener[] next = Arrays.copyOf(listeners, listeners.length + 1);
        next[next.length - 1] = listener;
        listeners = next;
    }

    public synchronized void removeListener(Listener listener) {
        Listener[] now = listeners;
        for (int i = 0; i < now.length; i++) {
            if (now[i] == listener) {
                Listener[] next = new Listener[now.length - 1];
                System.arraycopy(now, 0, next, 0, i);
                System.arraycopy(now, i + 1, next, i, now.length - i - 1);
                listeners = next;
                return;
            }
        }
    }

    /**
     * Makes {@code vector} pending; {@code level} marks it level-triggered, so its EOI is broadcast.
     * Returns false if it was pending already (the two interrupts merge, as on real hardware).
     */
    boolean accept(int vector, boolean level) {
        int word = vector >>> 6;
        long bit = 1L << (vector & 63);
        if (level) {
            WORDS.getAndBitwiseOr(tmr, word, bit);
        } else {
            WORDS.getAndBitwiseAnd(tmr, word, ~bit);
        }
        long before = (long) WORDS.getAndBitwiseOr(irr, word, bit);
        notifyArrival(vector);
        return (before & bit) == 0;
    }

    void acceptNmi() {
        nmiPending = true;
        notifyArrival(-1);
    }

    private void notifyArrival(int vector) {
        Listener[] now = listeners;
        for (int i = 0; i < now.length; i++) {
            now[i].interruptPending(this, vector);
        }
        Runnable hook = wakeUpHook;
        if (hook != null) {
            hook.run();
        }
    }

    /** True if {@code vector} is requested and not yet acknowledged. */
    public boolean isPending(int vector) {
        return ((long) WORDS.getVolatile(irr, vector >>> 6) & (1L << (vector & 63))) != 0;
    }

    /** The highest requested vector, or -1 if none. */
    public int highestPending() {
        return highest(irr);
    }

    /** True if an NMI waits; taking it clears it. */
    public boolean takeNmi() {
        if (nmiPending) {
            nmiPending = false;
            return true;
        }
        return false;
    }

    /**
     * The vCPU takes the highest pending vector (INTA): it moves from IRR to ISR. Returns -1 if
     * nothing is pending or what is pending does not outrank what is in service (priority classes are
     * the vector's upper four bits).
     */
    public int acknowledge() {
        int vector = highest(irr);
        if (vector < 0) {
            return -1;
        }
        int inService = highest(isr);
        if (inService >= 0 && (vector >>> 4) <= (inService >>> 4)) {
            return -1;
        }
        WORDS.getAndBitwiseAnd(irr, vector >>> 6, ~(1L << (vector & 63)));
        isr[vector >>> 6] |= 1L << (vector & 63);
        return vector;
    }

    /**
     * The guest writes the EOI register: the highest in-service vector ends. If it was
     * level-triggered, every EOI listener of the controller is told (this is how INTx is resampled).
     * Returns the vector, or -1 if none was in service.
     */
    public int endOfInterrupt() {
        int vector = highest(isr);
        if (vector < 0) {
            return -1;
        }
        isr[vector >>> 6] &= ~(1L << (vector & 63));
        long bit = 1L << (vector & 63);
        long before = (long) WORDS.getAndBitwiseAnd(tmr, vector >>> 6, ~bit);
        if ((before & bit) != 0) {
            controller.broadcastEoi(vector);
        }
        return vector;
    }

    private static int highest(long[] words) {
        for (int w = 3; w >= 0; w--) {
            long v = (long) WORDS.getVolatile(words, w);
            if (v != 0) {
                return w * 64 + 63 - Long.numberOfLeadingZeros(v);
            }
        }
        return -1;
    }

    @Override
    public String toString() {
        return "local APIC " + apicId;
    }
}
