package io.jvfio.kvm;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * A flat 64-bit program (machine code linked to run at {@link #load()}) and where each vCPU enters
 * it, already in long mode, with a stack of its own: what firmware would leave behind, for guests
 * that have none. {@link #start} writes {@link X86LongMode}'s GDT and page tables and the program
 * into guest RAM and sets every vCPU's registers: the one place jvfio's guests (the launcher's
 * built-in driver, the benchmarks' guests, the tests' guests) are put into long mode.
 *
 * <p>Two layouts: every vCPU entering at the program's first byte ({@link #of}: the guest tells the
 * vCPUs apart by its local APIC ID), or the bootstrap processor (vCPU 0) there and the application
 * processors at an entry of their own ({@link #withApEntry}). vCPU i's stack is a {@code stackSize}
 * slot below vCPU 0's, or below the application processors' top: the stacks grow down towards the
 * program, which {@link #start} checks they do not reach.
 */
public final class LongModeProgram {

    private final byte[] code;
    private final long load;
    private final long stack;
    private final long apEntry;
    private final long apStacks;
    private final long apStackSize;

    private LongModeProgram(byte[] code, long load, long stack, long apEntry, long apStacks, long apStackSize) {
        this.code = Objects.requireNonNull(code, "code").clone();
        if (load < X86LongMode.TABLES_END) {
            throw new IllegalArgumentException(String.format("a program at 0x%x would overwrite the long-mode tables "
                    + "below 0x%x (X86LongMode.TABLES_END): link it at or above that", load, X86LongMode.TABLES_END));
        }
        if (apStackSize <= 0) {
            throw new IllegalArgumentException("a stack size of " + apStackSize + " bytes: give each vCPU at least one "
                    + "byte of stack");
        }
        this.load = load;
        this.stack = stack;
        this.apEntry = apEntry;
        this.apStacks = apStacks;
        this.apStackSize = apStackSize;
    }

    /**
     * {@code code}, linked at {@code load}, entered there by every vCPU: vCPU i with its stack at
     * {@code stack - i * stackSize}.
     */
    public static LongModeProgram of(byte[] code, long load, long stack, long stackSize) {
        return new LongModeProgram(code, load, stack, load, stack - stackSize, stackSize);
    }

    /**
     * {@code code}, linked at {@code load}: vCPU 0 (the bootstrap processor) enters at {@code load}
     * with its stack at {@code stack}, vCPU i &gt;= 1 at {@code apEntry} with its stack at
     * {@code apStacks - (i - 1) * apStackSize}.
     */
    public static LongModeProgram withApEntry(byte[] code, long load, long stack, long apEntry, long apStacks,
                                              long apStackSize) {
        return new LongModeProgram(code, load, stack, apEntry, apStacks, apStackSize);
    }

    /** Where the program is loaded and linked. */
    public long load() {
        return load;
    }

    /** The first byte after the program. */
    public long end() {
        return load + code.length;
    }

    /** Where vCPU {@code vcpu} starts. */
    public long entry(int vcpu) {
        return vcpu == 0 ? load : apEntry;
    }

    /** vCPU {@code vcpu}'s initial stack pointer (the stack grows down from it). */
    public long stack(int vcpu) {
        return vcpu == 0 ? stack : apStacks - (vcpu - 1) * apStackSize;
    }

    /** How much guest RAM from address 0 {@link #start} needs: the tables, the program, the stacks. */
    public int extent() {
        return Math.toIntExact(Math.max(end(), Math.max(stack, apStacks)));
    }

    /**
     * Writes the long-mode tables and the program into {@code memory} (guest physical memory from
     * address 0, at least {@link #extent()} bytes: guest RAM's first region, or a view of it) and
     * puts every one of {@code vcpus} into long mode at its entry with its stack. Call it before the
     * vCPUs run. Refuses a layout where the lowest stack would grow into the program.
     */
    public void start(ByteBuffer memory, Vcpus vcpus) {
        write(memory, vcpus.size());
        for (int i = 0; i < vcpus.size(); i++) {
            X86LongMode.enter(vcpus.get(i), entry(i), stack(i));
        }
    }

    /** What {@link #start} does to memory, for {@code vcpus} vCPUs: checks the layout, writes tables and program. */
    void write(ByteBuffer memory, int vcpus) {
        long lowest = apStacks - (vcpus - 1) * apStackSize; // the bottom of the last vCPU's stack
        if (lowest < end()) {
            throw new IllegalArgumentException(String.format("%d vCPUs: vCPU %d's stack would grow down to 0x%x, "
                    + "into the program at [0x%x, 0x%x): give fewer vCPUs, or the stacks more room", vcpus, vcpus - 1,
                    lowest, load, end()));
        }
        if (memory.capacity() < extent()) {
            throw new IllegalArgumentException(String.format("guest memory of 0x%x bytes from 0: the program and its "
                    + "stacks need 0x%x (LongModeProgram.extent())", memory.capacity(), extent()));
        }
        ByteBuffer m = memory.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        X86LongMode.writeTables((gpa, value) -> m.putLong((int) gpa, value));
        m.put((int) load, code);
    }

    @Override
    public String toString() {
        return String.format("%d bytes of 64-bit code at 0x%x%s", code.length, load, apEntry == load ? ""
                : String.format(", application processors at 0x%x", apEntry));
    }
}
