package io.jvfio.irq;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** MSI decoding and delivery to local APICs (Intel SDM vol. 3, 11.11). */
class VirtualInterruptControllerTest {

    @Test
    void theFieldsOfAnMsiMessage() {
        // Destination 0x12, redirection hint, logical mode; vector 0x41, lowest priority, assert, level.
        MsiMessage m = new MsiMessage(0xFEE1200CL, 0xC141);
        assertTrue(m.inMsiWindow());
        assertEquals(0x12, m.destinationId());
        assertTrue(m.redirectionHint());
        assertTrue(m.logicalDestination());
        assertEquals(0x41, m.vector());
        assertEquals(DeliveryMode.LOWEST_PRIORITY, m.deliveryMode());
        assertTrue(m.levelAssert());
        assertTrue(m.levelTriggered());

        MsiMessage plain = MsiMessage.fixed(3, 0x30);
        assertEquals(0xFEE03000L, plain.address());
        assertEquals(0x30, plain.data());
        assertFalse(plain.logicalDestination());
        assertFalse(plain.redirectionHint());
        assertEquals(DeliveryMode.FIXED, plain.deliveryMode());
        assertFalse(plain.levelTriggered());
        assertEquals("MSI address 0xfee03000 data 0x30 (vector 48, FIXED, APIC 3)", plain.toString());
        assertFalse(new MsiMessage(0x1_FEE00000L, 0x30).inMsiWindow(), "high half must be 0");
        assertFalse(new MsiMessage(0xFED00000L, 0x30).inMsiWindow());
    }

    @Test
    void messagesThatMustNotBeDelivered() {
        VirtualInterruptController c = new VirtualInterruptController(2);
        assertEquals(DeliveryStatus.BAD_ADDRESS, c.deliverMsi(0xFED00000L, 0x30), "not 0xFEE");
        assertEquals(DeliveryStatus.BAD_ADDRESS, c.deliverMsi(0x1_FEE00000L, 0x30), "above 4 GiB");
        assertEquals(DeliveryStatus.BAD_ADDRESS, c.deliverMsi(0, 0x30), "a device enabled before the guest programmed it");
        assertEquals(DeliveryStatus.RESERVED_VECTOR, c.deliverMsi(0xFEE00000L, 15));
        assertEquals(DeliveryStatus.RESERVED_VECTOR, c.deliverMsi(0xFEE00000L, 0x100 | 2), "lowest priority, vector 2");
        for (int mode : new int[] {2, 3, 5, 6, 7}) { // SMI, reserved, INIT, reserved, ExtINT
            assertEquals(DeliveryStatus.UNSUPPORTED_DELIVERY_MODE, c.deliverMsi(0xFEE00000L, (mode << 8) | 0x30),
                    "delivery mode " + mode);
        }
        assertEquals(DeliveryStatus.NO_DESTINATION, c.deliverMsi(0xFEE05000L, 0x30), "APIC 5 of 2");
        assertEquals(DeliveryStatus.NO_DESTINATION, c.deliverMsi(0xFEE01004L, 0x30), "logical, nobody has bit 0");
        for (int cpu = 0; cpu < 2; cpu++) {
            assertEquals(-1, c.apic(cpu).highestPending(), "nothing reached CPU " + cpu);
        }
    }

    @Test
    void physicalLogicalBroadcastAndLowestPriority() {
        VirtualInterruptController c = new VirtualInterruptController(3);
        assertEquals(DeliveryStatus.DELIVERED, c.deliverMsi(0xFEE01000L, 0x31));
        assertTrue(c.apic(1).isPending(0x31));
        assertFalse(c.apic(0).isPending(0x31));

        assertEquals(DeliveryStatus.DELIVERED, c.deliverMsi(0xFEEFF000L, 0x32), "broadcast");
        for (int cpu = 0; cpu < 3; cpu++) {
            assertTrue(c.apic(cpu).isPending(0x32));
        }

        c.apic(0).setLogicalId(0x01);
        c.apic(2).setLogicalId(0x04);
        assertEquals(DeliveryStatus.DELIVERED, c.deliverMsi(0xFEE05004L, 0x33), "logical 0x05: CPUs 0 and 2");
        assertTrue(c.apic(0).isPending(0x33));
        assertFalse(c.apic(1).isPending(0x33));
        assertTrue(c.apic(2).isPending(0x33));

        assertEquals(DeliveryStatus.DELIVERED, c.deliverMsi(0xFEE05004L, 0x100 | 0x34), "lowest priority: one of them");
        assertEquals(1, (c.apic(0).isPending(0x34) ? 1 : 0) + (c.apic(2).isPending(0x34) ? 1 : 0));

        assertEquals(DeliveryStatus.DELIVERED, c.deliverMsi(0xFEE02000L, 0x400), "NMI ignores the vector");
        assertTrue(c.apic(2).takeNmi());
        assertFalse(c.apic(2).takeNmi());
    }

    @Test
    void theApicServesByPriorityAndBroadcastsEoiOfLevelInterrupts() {
        VirtualInterruptController c = new VirtualInterruptController(1);
        List<Integer> eois = new ArrayList<>();
        c.addEoiListener(eois::add);
        LocalApic apic = c.apic(0);
        List<Integer> arrivals = new ArrayList<>();
        apic.addListener((a, v) -> arrivals.add(v));
        int[] wakeups = {0};
        apic.wakeUpHook(() -> wakeups[0]++);

        c.deliverMsi(0xFEE00000L, 0x40);
        c.deliverMsi(0xFEE00000L, 0x8000 | 0x61); // level-triggered
        c.deliverMsi(0xFEE00000L, 0x45);
        assertEquals(List.of(0x40, 0x61, 0x45), arrivals);
        assertEquals(3, wakeups[0]);

        assertEquals(0x61, apic.acknowledge(), "highest first");
        assertEquals(-1, apic.acknowledge(), "0x45 and 0x40 are class 4, below class 6 in service");
        assertEquals(0x61, apic.endOfInterrupt());
        assertEquals(List.of(0x61), eois, "the level-triggered vector's EOI is broadcast");
        assertEquals(0x45, apic.acknowledge());
        assertEquals(-1, apic.acknowledge(), "0x40 is the same class as 0x45");
        assertEquals(0x45, apic.endOfInterrupt());
        assertEquals(0x40, apic.acknowledge());
        assertEquals(0x40, apic.endOfInterrupt());
        assertEquals(List.of(0x61), eois, "edge-triggered EOIs are not broadcast");
        assertEquals(-1, apic.endOfInterrupt());
    }
}
