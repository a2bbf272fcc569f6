package io.jvfio.irq;

import io.jvfio.vmm.migration.MigrationException;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The virtual local APICs' migration: programmed and interrupted as a guest would leave them, then
 * snapshot, restored into a fresh controller, and read and interrupted again there.
 */
class VirtualInterruptControllerMigrationTest {

    /** Two APICs as a guest leaves them mid-run: APIC 1 with a level vector in service and one held by its TPR. */
    private static VirtualInterruptController programmed() {
        VirtualInterruptController c = new VirtualInterruptController(2);
        LocalApic a1 = c.apic(1);
        a1.setSpuriousVector(LocalApic.SVR_APIC_ENABLED | 0xFF); // the guest enables it, spurious vector 0xFF
        a1.setLogicalId(0x02);
        c.apic(0).setLogicalId(0x01);
        assertEquals(DeliveryStatus.DELIVERED, c.deliverMsi(0xFEE01000L, 0x8000 | 0x61), "level, APIC 1");
        assertEquals(0x61, a1.acknowledge(), "the guest takes it and has not written its EOI yet");
        a1.setTaskPriority(0x50);
        assertEquals(DeliveryStatus.DELIVERED, c.deliverMsi(0xFEE01000L, 0x45), "edge, APIC 1");
        assertEquals(-1, a1.acknowledge(), "0x45 is class 4, at or below both TPR 5 and 0x61 in service");
        assertEquals(DeliveryStatus.DELIVERED, c.deliverMsi(0xFEE00000L, 0x400), "an NMI to APIC 0, not taken yet");
        return c;
    }

    @Test
    void whatTheGuestReadsAndWhereInterruptsGoSurviveTheMove() {
        VirtualInterruptController source = programmed();
        byte[] state = source.snapshot();
        assertEquals("local APICs x 2", source.stateId());

        VirtualInterruptController destination = new VirtualInterruptController(2);
        assertEquals(source.stateId(), destination.stateId());
        List<Integer> eois = new ArrayList<>();
        destination.addEoiListener(eois::add);
        int[] woken = {0};
        destination.apic(1).wakeUpHook(() -> woken[0]++);
        List<Integer> arrivals = new ArrayList<>();
        destination.apic(1).addListener((a, v) -> arrivals.add(v));
        destination.restore(state);

        assertArrayEquals(state, destination.snapshot(), "the destination's state is the source's, byte for byte");
        LocalApic a1 = destination.apic(1);
        assertEquals(0x1FF, a1.spuriousVector());
        assertTrue(a1.softwareEnabled());
        assertEquals(0x50, a1.taskPriority());
        assertEquals(0x02, a1.logicalId());
        assertEquals(0x01, destination.apic(0).logicalId());
        assertTrue(a1.isPending(0x45), "the vector held by the TPR is pending in the IRR");
        assertTrue(a1.isInService(0x61), "the one being handled is in service");
        assertTrue(a1.isLevelTriggered(0x61));
        assertEquals(1, woken[0], "a vCPU halted on the destination is woken to look at what is pending");
        assertEquals(List.of(), arrivals, "nothing arrived: the listeners count arrivals");
        assertTrue(destination.apic(0).nmiPending());
        assertEquals(LocalApic.SVR_RESET, destination.apic(0).spuriousVector(), "APIC 0 was never enabled");

        // The guest goes on: its handler's EOI ends the level vector, broadcast to the IOAPIC's side.
        assertEquals(-1, a1.acknowledge(), "still held by the TPR");
        assertEquals(0x61, a1.endOfInterrupt());
        assertEquals(List.of(0x61), eois);
        a1.setTaskPriority(0);
        assertEquals(0x45, a1.acknowledge(), "with TPR 0 the pending vector is taken");
        assertEquals(0x45, a1.endOfInterrupt());
        assertEquals(List.of(0x61), eois, "an edge vector's EOI is not broadcast");
        assertTrue(destination.apic(0).takeNmi());

        // An interrupt after the move goes where it went before: logical destination 0x02 is APIC 1.
        assertEquals(DeliveryStatus.DELIVERED, destination.deliverMsi(0xFEE02004L, 0x52));
        assertTrue(a1.isPending(0x52));
        assertFalse(destination.apic(0).isPending(0x52));
        assertEquals(List.of(0x52), arrivals);
    }

    @Test
    void aStateForAnotherNumberOfApicsIsRefusedAndLoadsNothing() {
        byte[] state = programmed().snapshot();
        VirtualInterruptController one = new VirtualInterruptController(1);
        one.apic(0).setTaskPriority(0x20);
        MigrationException e = assertThrows(MigrationException.class, () -> one.restore(state));
        assertEquals("the local APIC state holds 2 APICs, and this machine has 1: start the destination with the "
                + "source's -smp 2", e.getMessage());
        assertEquals(0x20, one.apic(0).taskPriority(), "nothing loaded");
        assertEquals("local APICs x 1", one.stateId(), "the state ids differ too");
    }

    @Test
    void anotherVersionAnotherKindAndACutShortStateAreRefused() {
        byte[] state = programmed().snapshot();
        VirtualInterruptController destination = new VirtualInterruptController(2);

        byte[] v2 = state.clone();
        int versionAt = 4 + 2 + "local APICs".length();
        v2[versionAt + 1] = 2;
        MigrationException version = assertThrows(MigrationException.class, () -> destination.restore(v2));
        assertTrue(version.getMessage().startsWith("the 'local APICs' state is version 2 of its format, and this build "
                + "loads version 1 only"), version.getMessage());

        byte[] ioapic = new io.jvfio.irq.ioapic.IoApic(destination).snapshot();
        MigrationException kind = assertThrows(MigrationException.class, () -> destination.restore(ioapic));
        assertTrue(kind.getMessage().startsWith("the state is a 'IOAPIC' state, and this part takes 'local APICs' state"),
                kind.getMessage());

        byte[] cut = Arrays.copyOf(state, state.length - 8);
        MigrationException shortState = assertThrows(MigrationException.class, () -> destination.restore(cut));
        assertTrue(shortState.getMessage().contains("ends within its fields"), shortState.getMessage());
        assertEquals(-1, destination.apic(1).highestPending(), "nothing loaded from a state cut short");

        byte[] longer = Arrays.copyOf(state, state.length + 1);
        MigrationException extra = assertThrows(MigrationException.class, () -> destination.restore(longer));
        assertTrue(extra.getMessage().contains("1 bytes after its last field"), extra.getMessage());
    }
}
