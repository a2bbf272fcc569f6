package io.jvfio.irq;

import io.jvfio.vmm.migration.MigrationException;
import io.jvfio.vmm.migration.SavedState;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * The interrupt state of one vCPU's local APIC: the Interrupt Request Register (vectors pending),
 * the Trigger Mode Register (which of them are level-triggered), the In-Service Register, a pending
 * NMI, the Task Priority Register and the Spurious Interrupt Vector Register (Intel SDM vol. 3,
 * 11.8). Interrupts are accepted from any thread (the dispatcher); acknowledging and ending them is
 * the vCPU's business, on its own thread.
 *
 * <p>What this model has not: a timer, LINT0/1, and the other local vector table entries (nothing in
 * a machine without KVM drives them), and the register page at 0xFEE00000 (its software, the
 * host-side driver, calls these methods).
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

    /** The Spurious Interrupt Vector Register's value after reset (SDM 11.4.7.1). */
    public static final int SVR_RESET = 0xFF;
    /** SVR bit 8: APIC software enable. */
    public static final int SVR_APIC_ENABLED = 1 << 8;

    private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);

    private final int apicId;
    private final VirtualInterruptController controller;
    private final long[] irr = new long[4];
    private final long[] tmr = new long[4];
    /** Owned by the vCPU thread. */
    private final long[] isr = new long[4];
    private volatile int logicalId;
    /** Task Priority Register: bits 7:4 the class at or below which no interrupt is taken. */
    private volatile int taskPriority;
    /** Spurious Interrupt Vector Register: 0xFF after reset, the APIC software-disabled. */
    private volatile int spuriousVector = SVR_RESET;
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

    /** The Task Priority Register (bits 7:0). */
    public int taskPriority() {
        return taskPriority;
    }

    /** The guest writes the TPR: interrupts of class {@code (tpr >> 4)} and below wait in the IRR. */
    public void setTaskPriority(int tpr) {
        this.taskPriority = tpr & 0xFF;
    }

    /** The Spurious Interrupt Vector Register (vector, APIC software enable, focus checking, EOI broadcast suppression). */
    public int spuriousVector() {
        return spuriousVector;
    }

    /**
     * The guest writes the SVR. Bit 8 enables the APIC in software; this model takes interrupts while it
     * is clear too, as it always has (the host-side driver, its only software, never sets it), where
     * KVM's in-kernel APIC drops fixed interrupts to a software-disabled APIC.
     */
    public void setSpuriousVector(int svr) {
        this.spuriousVector = svr & 0x13FF;
    }

    /** SVR bit 8. */
    public boolean softwareEnabled() {
        return (spuriousVector & SVR_APIC_ENABLED) != 0;
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

    /** True if {@code vector} is in service: acknowledged, its EOI not written yet. */
    public boolean isInService(int vector) {
        return (isr[vector >>> 6] & (1L << (vector & 63))) != 0;
    }

    /** True if {@code vector} was accepted level-triggered (its EOI is broadcast). */
    public boolean isLevelTriggered(int vector) {
        return ((long) WORDS.getVolatile(tmr, vector >>> 6) & (1L << (vector & 63))) != 0;
    }

    /** True while an NMI waits (without taking it). */
    public boolean nmiPending() {
        return nmiPending;
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
     * nothing is pending or what is pending does not outrank the processor priority: what is in
     * service, and the task priority (priority classes are the vector's upper four bits; SDM 11.8.3.1).
     */
    public int acknowledge() {
        int vector = highest(irr);
        if (vector < 0) {
            return -1;
        }
        int inService = highest(isr);
        if (inService >= 0 && (vector >>> 4) <= (inService >>> 4) || (vector >>> 4) <= (taskPriority >>> 4)) {
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

    // ---- migration: VirtualInterruptController's state, one APIC's part ----

    /** The guest-visible registers, in the order {@link #load} takes them. */
    void save(SavedState.Writer out) {
        out.u8(apicId).u8(logicalId).u8(taskPriority).u16(spuriousVector).bool(nmiPending);
        for (long[] register : new long[][] {irr, isr, tmr}) {
            for (int w = 0; w < 4; w++) {
                out.u64((long) WORDS.getVolatile(register, w));
            }
        }
    }

    /** Takes what {@link #save} wrote, for the APIC with the same ID; tells no listener (nothing arrived). */
    void load(SavedState.Reader in) {
        int id = in.u8();
        if (id != apicId) {
            throw new MigrationException("the local APIC state in APIC " + apicId
                    + "'s place is APIC " + id + "'s: the state is corrupt; take the snapshot again");
        }
        logicalId = in.u8();
        taskPriority = in.u8();
        spuriousVector = in.u16();
        nmiPending = in.bool();
        for (long[] register : new long[][] {irr, isr, tmr}) {
            for (int w = 0; w < 4; w++) {
                WORDS.setVolatile(register, w, in.u64());
            }
        }
    }

    /** Takes {@code from}'s registers (a state {@link #load}ed whole), keeping this APIC's listeners and hook. */
    void copyRegisters(LocalApic from) {
        logicalId = from.logicalId;
        taskPriority = from.taskPriority;
        spuriousVector = from.spuriousVector;
        for (int w = 0; w < 4; w++) {
            WORDS.setVolatile(irr, w, (long) WORDS.getVolatile(from.irr, w));
            WORDS.setVolatile(isr, w, (long) WORDS.getVolatile(from.isr, w));
            WORDS.setVolatile(tmr, w, (long) WORDS.getVolatile(from.tmr, w));
        }
        nmiPending = from.nmiPending;
        Runnable hook = wakeUpHook;
        if (hook != null && (nmiPending || highest(irr) >= 0)) {
            hook.run(); // a vCPU halted on the destination looks at what is pending; nothing arrived, no listener is told
        }
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
