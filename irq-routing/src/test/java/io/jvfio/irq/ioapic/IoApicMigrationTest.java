package io.jvfio.irq.ioapic;

import io.jvfio.irq.LocalApic;
import io.jvfio.irq.VirtualInterruptController;
import io.jvfio.vmm.migration.MigrationException;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The IOAPIC's migration with the local APICs it delivers to: programmed as a guest does, a level
 * line asserted and its interrupt being handled, then moved to a fresh pair and run on there.
 */
class IoApicMigrationTest {

    /** A machine's interrupt controllers: its APICs and its IOAPIC. */
    private record Controllers(VirtualInterruptController apics, IoApic ioapic) {
        Controllers() {
            this(new VirtualInterruptController(2));
        }

        Controllers(VirtualInterruptController apics) {
            this(apics, new IoApic(apics));
        }

        long register(int index) {
            ioapic.write(IoApic.IOREGSEL, 4, index);
            return ioapic.read(IoApic.IOWIN, 4);
        }

        void program(int pin, long entry) {
            ioapic.write(IoApic.IOREGSEL, 4, IoApic.IOREDTBL + 2 * pin + 1);
            ioapic.write(IoApic.IOWIN, 4, entry >>> 32);
            ioapic.write(IoApic.IOREGSEL, 4, IoApic.IOREDTBL + 2 * pin);
            ioapic.write(IoApic.IOWIN, 4, entry & 0xFFFF_FFFFL);
        }
    }

    private static final long TO_APIC_1 = 1L << 56;

    /** The guest's programming, a level line up and taken (its EOI not written), an edge pin masked. */
    private static Controllers programmed() {
        Controllers s = new Controllers();
        s.register(IoApic.IOAPICID);
        s.ioapic.write(IoApic.IOWIN, 4, 0x0200_0000L); // IOAPIC ID 2
        s.program(17, TO_APIC_1 | RedirectionEntry.LEVEL | 0x61);
        s.program(3, RedirectionEntry.MASKED | RedirectionEntry.POLARITY_LOW | 0x33);
        s.program(16, RedirectionEntry.LEVEL | RedirectionEntry.MASKED | 0x50);
        s.ioapic.assertLine(16); // masked: held
        s.ioapic.assertLine(17); // the device's INTx
        assertEquals(0x61, s.apics.apic(1).acknowledge(), "the guest's handler runs; the device still asserts");
        s.ioapic.write(IoApic.IOREGSEL, 4, IoApic.IOREDTBL + 2 * 17 + 1); // the guest's last select
        return s;
    }

    @Test
    void theTableThePinsAndWhereALineGoesSurviveTheMove() {
        Controllers source = programmed();
        assertEquals(1, source.ioapic.delivered());
        long select = source.ioapic.read(IoApic.IOREGSEL, 4);
        byte[] apicState = source.apics.snapshot();
        byte[] ioapicState = source.ioapic.snapshot();
        assertEquals("IOAPIC 24 pins", source.ioapic.stateId());

        Controllers destination = new Controllers();
        AtomicInteger resampled = new AtomicInteger();
        // The destination's device route: at the EOI it lowers the line once the device is acknowledged.
        destination.ioapic.addResampler(17, () -> {
            resampled.incrementAndGet();
            destination.ioapic.deassertLine(17);
        });
        destination.apics.restore(apicState);
        destination.ioapic.restore(ioapicState);

        assertArrayEquals(ioapicState, destination.ioapic.snapshot(), "the destination's state is the source's");
        assertEquals(select, destination.ioapic.read(IoApic.IOREGSEL, 4), "IOREGSEL reads back");
        for (int index = 0; index < IoApic.IOREDTBL + 2 * IoApic.PINS; index++) {
            assertEquals(source.register(index), destination.register(index), "register 0x" + Integer.toHexString(index));
        }
        assertEquals(0x0200_0000L, destination.register(IoApic.IOAPICID));
        assertTrue(destination.ioapic.asserted(17));
        assertTrue(destination.ioapic.asserted(16));
        assertFalse(destination.ioapic.asserted(3));
        assertTrue(RedirectionEntry.remoteIrr(destination.ioapic.entry(17)), "remote IRR: waiting for the guest's EOI");
        assertEquals(1, destination.ioapic.delivered(), "nothing delivered by the restore");

        // The guest's handler ends the interrupt on the destination: the EOI reaches the IOAPIC there.
        LocalApic apic1 = destination.apics.apic(1);
        assertTrue(apic1.isInService(0x61));
        assertEquals(0x61, apic1.endOfInterrupt());
        assertEquals(1, resampled.get(), "the destination's resampler ran at the EOI");
        assertFalse(destination.ioapic.asserted(17));
        assertFalse(RedirectionEntry.remoteIrr(destination.ioapic.entry(17)));
        assertEquals(1, destination.ioapic.delivered(), "lowered at the EOI: not delivered again");

        // The next assertion goes where the source sent it: vector 0x61 at APIC 1.
        destination.ioapic.assertLine(17);
        assertTrue(apic1.isPending(0x61));
        assertFalse(destination.apics.apic(0).isPending(0x61));
        assertEquals(2, destination.ioapic.delivered());

        // The masked level pin held on the source is delivered when the guest unmasks it on the destination.
        destination.program(16, RedirectionEntry.LEVEL | 0x50);
        assertTrue(destination.apics.apic(0).isPending(0x50));
    }

    @Test
    void aLineStillAssertedAtTheEoiIsDeliveredAgainOnTheDestination() {
        Controllers source = programmed();
        Controllers destination = new Controllers();
        destination.apics.restore(source.apics.snapshot());
        destination.ioapic.restore(source.ioapic.snapshot());
        assertEquals(0x61, destination.apics.apic(1).endOfInterrupt());
        assertTrue(destination.apics.apic(1).isPending(0x61), "no resampler lowered it: the pin is delivered again");
        assertEquals(2, destination.ioapic.delivered());
    }

    @Test
    void anotherKindAnotherVersionAndACorruptStateAreRefused() {
        Controllers source = programmed();
        byte[] state = source.ioapic.snapshot();
        Controllers destination = new Controllers();
        destination.program(5, 0x35);

        MigrationException kind = assertThrows(MigrationException.class,
                () -> destination.ioapic.restore(source.apics.snapshot()));
        assertTrue(kind.getMessage().startsWith("the state is a 'local APICs' state, and this part takes 'IOAPIC' state"),
                kind.getMessage());

        byte[] v9 = state.clone();
        v9[4 + 2 + "IOAPIC".length() + 1] = 9;
        MigrationException version = assertThrows(MigrationException.class, () -> destination.ioapic.restore(v9));
        assertTrue(version.getMessage().startsWith("the 'IOAPIC' state is version 9 of its format, and this build loads "
                + "version 1 only"), version.getMessage());

        byte[] pins = state.clone();
        pins[4 + 2 + "IOAPIC".length() + 2] = 16;
        MigrationException pinCount = assertThrows(MigrationException.class, () -> destination.ioapic.restore(pins));
        assertEquals("the IOAPIC state has 16 pins, and this IOAPIC has 24: migrate between jvfio builds with the same "
                + "IOAPIC", pinCount.getMessage());

        byte[] bad = new byte[] {0x4a, 0x56, 0x00, 0x00};
        MigrationException magic = assertThrows(MigrationException.class, () -> destination.ioapic.restore(bad));
        assertTrue(magic.getMessage().startsWith("the IOAPIC state does not begin with a jvfio state header"),
                magic.getMessage());

        assertEquals(0x35, RedirectionEntry.vector(destination.ioapic.entry(5)), "nothing was loaded");
        assertFalse(RedirectionEntry.masked(destination.ioapic.entry(5)));
    }
}
