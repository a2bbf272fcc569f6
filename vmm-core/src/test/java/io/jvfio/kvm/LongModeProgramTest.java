package io.jvfio.kvm;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Where a program and its vCPUs' stacks go, and what {@link LongModeProgram} writes into guest RAM
 * (no vCPU needed; {@link KvmVcpuTest} and {@link VcpusTest} run programs it started on KVM).
 */
class LongModeProgramTest {

    static final byte[] CODE = {(byte) 0xF4, (byte) 0xEB, (byte) 0xFD}; // hlt; jmp hlt

    @Test
    void everyVcpuEntersAtTheProgramWithAStackBelowTheLastOnes() {
        LongModeProgram p = LongModeProgram.of(CODE, 0x10000, 0x80000, 0x10000);
        for (int i = 0; i < 6; i++) {
            assertEquals(0x10000, p.entry(i));
            assertEquals(0x80000 - i * 0x10000L, p.stack(i), "vCPU " + i);
        }
        assertEquals(0x10003, p.end());
        assertEquals(0x80000, p.extent(), "up to vCPU 0's stack, the highest byte used");
    }

    @Test
    void applicationProcessorsEnterAtTheirOwnEntryOnStacksOfTheirOwn() {
        LongModeProgram p = LongModeProgram.withApEntry(CODE, 0x10000, 0x80000, 0x10008, 0x78000, 0x200);
        assertEquals(0x10000, p.entry(0));
        assertEquals(0x80000, p.stack(0));
        assertEquals(0x10008, p.entry(1));
        assertEquals(0x78000, p.stack(1));
        assertEquals(0x10008, p.entry(254));
        assertEquals(0x78000 - 253 * 0x200L, p.stack(254));
        p.write(ByteBuffer.allocate(p.extent()), 255); // the most -smp gives fit above the program
    }

    @Test
    void writesTheLongModeTablesAndTheProgramAndNothingElse() {
        LongModeProgram p = LongModeProgram.of(CODE, 0x10000, 0x80000, 0x10000);
        ByteBuffer ram = ByteBuffer.allocate(1 << 20);
        p.write(ram, 1);
        ByteBuffer le = ram.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(0x00AF_9B00_0000_FFFFL, le.getLong((int) X86LongMode.GDT + 8), "a 64-bit code segment");
        assertEquals(X86LongMode.PDPT | 0x3, le.getLong((int) X86LongMode.PML4));
        assertEquals((3L << 30) | 0x3 | 0x80 | 0x18, le.getLong((int) X86LongMode.PD + 3 * 0x1000),
                "the last GiB (MMIO, the local APIC) uncached");
        byte[] loaded = new byte[CODE.length];
        ram.get(0x10000, loaded);
        assertArrayEquals(CODE, loaded);
        assertEquals(0, ram.get(0x10000 + CODE.length), "past the program");
        for (long gpa = X86LongMode.IDT; gpa < X86LongMode.PML4; gpa += 8) {
            assertEquals(0, le.getLong((int) gpa), "the IDT's page is the guest's: left as it was");
        }
    }

    @Test
    void refusesMoreVcpusThanFitTheirStacksAboveTheProgram() {
        LongModeProgram p = LongModeProgram.of(CODE, 0x10000, 0x80000, 0x10000);
        p.write(ByteBuffer.allocate(p.extent()), 6);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> p.write(ByteBuffer.allocate(p.extent()), 7));
        assertEquals("7 vCPUs: vCPU 6's stack would grow down to 0x10000, into the program at [0x10000, 0x10003): "
                + "give fewer vCPUs, or the stacks more room", e.getMessage());
    }

    @Test
    void refusesAProgramOverTheTablesAndMemoryTooSmall() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LongModeProgram.of(CODE, 0x8000, 0x80000, 0x1000));
        assertEquals("a program at 0x8000 would overwrite the long-mode tables below 0x9000 (X86LongMode.TABLES_END): "
                + "link it at or above that", e.getMessage());
        LongModeProgram p = LongModeProgram.of(CODE, 0x10000, 0x80000, 0x10000);
        e = assertThrows(IllegalArgumentException.class, () -> p.write(ByteBuffer.allocate(0x20000), 1));
        assertEquals("guest memory of 0x20000 bytes from 0: the program and its stacks need 0x80000 "
                + "(LongModeProgram.extent())", e.getMessage());
    }

    /** The guests' assembly include builds its IDT in the page the tables leave free. */
    @Test
    void theGuestsInterruptIncludeAgreesOnTheIdt() throws IOException {
        String include;
        try (InputStream in = LongModeProgram.class.getResourceAsStream("/io/jvfio/kvm/" + GuestCode.INTERRUPTS)) {
            assertNotNull(in, GuestCode.INTERRUPTS + " on the class path");
            include = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        }
        Matcher m = Pattern.compile("(?m)^\\s*\\.equ\\s+IDT,\\s*0x([0-9a-f]+)").matcher(include);
        assertTrue(m.find(), "x86-interrupts.inc defines IDT");
        assertEquals(X86LongMode.IDT, Long.parseLong(m.group(1), 16));
        assertTrue(X86LongMode.GDT + 0x1000 <= X86LongMode.IDT && X86LongMode.IDT + 256 * 16 <= X86LongMode.PML4,
                "256 gates between the GDT and the page tables");
    }
}
