package io.jvfio.kvm.memory;

import io.jvfio.kvm.GuestCode;
import io.jvfio.kvm.KvmMachine;
import io.jvfio.kvm.KvmVcpu;
import io.jvfio.kvm.LongModeProgram;
import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.bus.BusDevice;
import io.jvfio.vmm.testing.OnKvm;
import io.jvfio.vmm.testing.Prerequisites;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * KVM's dirty log over guest RAM's slots: a guest writes known pages, and collect reports them (with
 * the pages the CPU itself writes, such as page-table entries' accessed and dirty bits), adjacent ones
 * as one run, an unwritten page never, and each write once. Real /dev/kvm.
 */
@OnKvm
class KvmRamSlotsDirtyLogTest {

    private static final long MIB = 1 << 20;
    private static final long PAGE = 4096;
    private static final long A = 0x200000;
    private static final long B = 0x400000;
    private static final long UNWRITTEN = 0x600000;
    /** A page in a region added while logging is on. */
    private static final long LATE = 0x2001000;

    /** Round 1 writes A, A + 1 page and B; round 2 writes LATE; each ends with an OUT that stops the vCPU. */
    private static final String GUEST = """
                mov     qword ptr [0x200000], 1
                mov     qword ptr [0x201008], 2
                mov     qword ptr [0x400ff8], 3
                mov     dx, 0x500
                out     dx, al
                mov     qword ptr [0x2001010], 4
                out     dx, al
            1:  hlt
                jmp     1b
            """;

    /** The runs one collect reported. */
    private static List<long[]> collect(KvmRamSlots log) {
        List<long[]> runs = new ArrayList<>();
        log.collect((address, length) -> runs.add(new long[] {address, length}));
        return runs;
    }

    private static TreeSet<Long> pages(List<long[]> runs) {
        TreeSet<Long> pages = new TreeSet<>();
        for (long[] r : runs) {
            assertEquals(0, r[0] % PAGE, "a run starts at a page");
            assertEquals(0, r[1] % PAGE, "a run is whole pages");
            assertTrue(r[1] > 0);
            for (long p = r[0]; p < r[0] + r[1]; p += PAGE) {
                assertTrue(pages.add(p), "page 0x" + Long.toHexString(p) + " reported twice");
            }
        }
        return pages;
    }

    private static boolean inOneRun(List<long[]> runs, long from, long to) {
        return runs.stream().anyMatch(r -> r[0] <= from && to <= r[0] + r[1]);
    }

    @Test
    void collectReportsThePagesTheGuestWroteAndStopEndsIt() throws Exception {
        Prerequisites.requireKvm();
        byte[] code = GuestCode.assemble(GUEST);
        try (KvmMachine machine = KvmMachine.create(1); GuestMemory memory = new GuestMemory()) {
            MemoryBackend ram = MemoryBackend.memfd("ram", 16 * MIB, false);
            memory.addRegion("ram", 0, ram);
            KvmRamSlots slots = new KvmRamSlots(machine.vm());
            memory.addListener(slots);
            LongModeProgram program = LongModeProgram.of(code, GuestCode.LOAD, 0x80000, 0x10000);
            program.start(memory.ram().slice(0, program.extent()),
                    machine.vcpus());
            AddressSpace space = new AddressSpace();
            KvmVcpu vcpu = machine.vcpus().get(0);
            space.pio().add("stop", 0x500, 1, new BusDevice() {
                @Override
                public long read(long offset, int size) {
                    return 0;
                }

                @Override
                public void write(long offset, int size, long value) {
                    vcpu.stop();
                }
            });

            slots.start();
            machine.vcpus().start(space);
            assertEquals(List.of(KvmVcpu.Stop.REQUESTED), machine.vcpus().awaitAll(Duration.ofSeconds(60)));
            List<long[]> first = collect(slots);
            TreeSet<Long> dirty = pages(first);
            assertTrue(dirty.containsAll(List.of(A, A + PAGE, B)), "written pages reported: " + hex(dirty));
            assertTrue(inOneRun(first, A, A + 2 * PAGE), "adjacent pages in one run: " + hex(dirty));
            assertFalse(dirty.contains(UNWRITTEN), "an unwritten page reported: " + hex(dirty));
            assertTrue(pages(collect(slots)).stream().noneMatch(p -> p == A || p == B),
                    "a collect clears what it reported");

            // A region that comes while logging is on logs from the start.
            memory.addRegion("late", 0x2000000, MemoryBackend.memfd("late", 2 * MIB, false));
            machine.vcpus().start(space);
            assertEquals(List.of(KvmVcpu.Stop.REQUESTED), machine.vcpus().awaitAll(Duration.ofSeconds(60)));
            TreeSet<Long> second = pages(collect(slots));
            assertTrue(second.contains(LATE), "the late region's page reported: " + hex(second));
            assertFalse(second.contains(A) || second.contains(B), "pages of the first round again: " + hex(second));

            slots.stop();
            slots.stop(); // idempotent
            assertTrue(collect(slots).isEmpty(), "nothing reported after stop");
            memory.removeListener(slots);
        }
    }

    private static String hex(TreeSet<Long> pages) {
        StringBuilder b = new StringBuilder();
        for (long p : pages) {
            b.append(b.length() == 0 ? "" : " ").append(Long.toHexString(p));
        }
        return b.toString();
    }
}
