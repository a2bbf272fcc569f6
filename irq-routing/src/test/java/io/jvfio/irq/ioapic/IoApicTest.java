package io.jvfio.irq.ioapic;

import io.jvfio.irq.LocalApic;
import io.jvfio.irq.VirtualInterruptController;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The emulated IOAPIC against the 82093AA datasheet's registers and the level-triggered rules a
 * passed-through INTx relies on, with the virtual local APIC as the guest's side.
 */
class IoApicTest {

    private final VirtualInterruptController apics = new VirtualInterruptController(1);
    private final LocalApic apic = apics.apic(0);
    private final IoApic ioapic = new IoApic(apics);

    private long register(int index) {
        ioapic.write(IoApic.IOREGSEL, 4, index);
        return ioapic.read(IoApic.IOWIN, 4);
    }

    private void program(int pin, long entry) {
        ioapic.write(IoApic.IOREGSEL, 4, IoApic.IOREDTBL + 2 * pin + 1);
        ioapic.write(IoApic.IOWIN, 4, entry >>> 32);
        ioapic.write(IoApic.IOREGSEL, 4, IoApic.IOREDTBL + 2 * pin);
        ioapic.write(IoApic.IOWIN, 4, entry & 0xFFFF_FFFFL);
    }

    /** What the guest's handler does: take the vector and end it at the local APIC. */
    private int handle() {
        int v = apic.acknowledge();
        apic.endOfInterrupt();
        return v;
    }

    @Test
    void registersAreTheDatasheetsAndEntriesStartMasked() {
        assertEquals(0x00170020L, register(0x01), "version 0x20, 24 entries (maximum redirection entry 23)");
        ioapic.write(IoApic.IOREGSEL, 4, 0x01);
        assertEquals(0x01, ioapic.read(IoApic.IOREGSEL, 4), "IOREGSEL reads back");
        for (int pin = 0; pin < IoApic.PINS; pin++) {
            assertEquals(RedirectionEntry.MASKED, register(0x10 + 2 * pin), "pin " + pin + " masked at reset");
        }
        register(0x00);
        ioapic.write(IoApic.IOWIN, 4, 0x0F00_0000L);
        assertEquals(0x0F00_0000L, register(0x00), "the ID is writable");
        program(5, 0xFFFF_FFFF_FFFF_FFFFL);
        assertEquals(0xFF00_0000_0001_AFFFL, ioapic.entry(5), "delivery status and remote IRR are read-only");
        assertEquals(0, register(0x10 + 2 * IoApic.PINS), "no entry past the last pin");
    }

    @Test
    void aLevelLineIsDeliveredOnceUntilEoiThenAgainIfStillAsserted() {
        program(17, RedirectionEntry.LEVEL | 0x61);
        AtomicInteger resampled = new AtomicInteger();
        ioapic.addResampler(17, resampled::incrementAndGet);

        ioapic.assertLine(17);
        assertTrue(apic.isPending(0x61), "the entry's vector reaches the local APIC");
        assertTrue(RedirectionEntry.remoteIrr(ioapic.entry(17)), "remote IRR until EOI");
        ioapic.deassertLine(17);
        ioapic.assertLine(17); // asserted again before the EOI: not a second message
        assertEquals(1, ioapic.delivered());

        assertEquals(0x61, handle());
        assertEquals(1, resampled.get(), "the EOI runs the pin's resampler");
        assertEquals(2, ioapic.delivered(), "still asserted after the EOI: delivered again");
        assertTrue(RedirectionEntry.remoteIrr(ioapic.entry(17)), "and waits for its EOI");
        assertTrue(apic.isPending(0x61));

        ioapic.deassertLine(17);
        assertEquals(0x61, handle());
        assertEquals(2, resampled.get());
        assertEquals(2, ioapic.delivered(), "deasserted: nothing more");
        assertEquals(-1, apic.highestPending());
    }

    @Test
    void aResamplerThatLowersTheLineEndsIt() {
        program(16, RedirectionEntry.LEVEL | 0x50);
        ioapic.addResampler(16, () -> ioapic.deassertLine(16));
        for (int i = 1; i <= 10; i++) {
            ioapic.assertLine(16);
            assertEquals(0x50, handle(), "interrupt " + i);
            assertFalse(ioapic.asserted(16));
        }
        assertEquals(10, ioapic.delivered());
    }

    @Test
    void aMaskedEntryHoldsTheLineAndUnmaskingDeliversIt() {
        program(18, RedirectionEntry.LEVEL | RedirectionEntry.MASKED | 0x70);
        ioapic.assertLine(18);
        assertEquals(0, ioapic.delivered(), "masked");
        program(18, RedirectionEntry.LEVEL | 0x70);
        assertEquals(1, ioapic.delivered(), "unmasked while asserted");
        assertTrue(apic.isPending(0x70));
    }

    @Test
    void theEoiRegisterEndsALevelInterruptToo() {
        program(19, RedirectionEntry.LEVEL | 0x45);
        ioapic.assertLine(19);
        assertEquals(0x45, apic.acknowledge());
        ioapic.deassertLine(19);
        ioapic.write(IoApic.EOI, 4, 0x45);
        assertFalse(RedirectionEntry.remoteIrr(ioapic.entry(19)), "remote IRR cleared");
        ioapic.assertLine(19);
        assertEquals(2, ioapic.delivered(), "so the next assertion is delivered");
    }

    @Test
    void anEdgeEntrySendsOnTheRisingEdgeOnly() {
        program(3, 0x33);
        ioapic.assertLine(3);
        ioapic.assertLine(3);
        assertEquals(1, ioapic.delivered());
        assertFalse(RedirectionEntry.remoteIrr(ioapic.entry(3)), "no remote IRR for an edge");
        assertEquals(0x33, handle());
        ioapic.deassertLine(3);
        ioapic.assertLine(3);
        assertEquals(2, ioapic.delivered());
    }

    @Test
    void theMessageCarriesDestinationModeAndTrigger() {
        long e = 0x0300_0000_0000_0000L | RedirectionEntry.LEVEL | 1 << 11 | 1 << 8 | 0x99;
        assertEquals(0xFEE0_3004L, RedirectionEntry.messageAddress(e));
        assertEquals(0x99 | 1 << 8 | 1 << 14 | 1 << 15, RedirectionEntry.messageData(e));
    }

    @Test
    void aPinOutsideTheTableIsIgnoredAndAResamplerForItRefused() {
        ioapic.assertLine(24);
        ioapic.assertLine(-1);
        assertEquals(0, ioapic.delivered());
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> ioapic.addResampler(24, () -> { }));
    }
}
