package io.jvfio.vmm.range;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The DMA-window map at the edges of u64: ranges at and across 2^63, up to 2^64, and accesses that wrap. */
class RangeMapTest {

    private static final long HALF = Long.MIN_VALUE; // 2^63
    private static final long MAX = -1L; // 2^64 - 1

    private record Window(long base, long size) implements Ranged {
    }

    @Test
    void findsTheRangeHoldingAllOfAnAccess() {
        RangeMap<Window> map = new RangeMap<>();
        Window low = new Window(0x1000, 0x1000);
        Window high = new Window(0x10000, 0x2000);
        map.add(high);
        map.add(low);
        assertSame(low, map.find(0x1000, 1));
        assertSame(low, map.find(0x1ff8, 8), "the last 8 bytes");
        assertNull(map.find(0x1ff8, 9), "one byte past the window");
        assertNull(map.find(0x2000, 1), "between the windows");
        assertNull(map.find(0xfff, 1), "below every window");
        assertSame(high, map.find(0x10000, 0x2000), "the whole window");
        assertNull(map.find(0x10000, 0x2001));
        assertEquals(List.of(low, high), map.ranges(), "by base");
        assertEquals(2, map.size());
    }

    @Test
    void sortsAndFindsAsUnsigned() {
        RangeMap<Window> map = new RangeMap<>();
        Window across = new Window(HALF - 0x1000, 0x2000); // [2^63 - 4 KiB, 2^63 + 4 KiB)
        Window top = new Window(MAX - 0xfff, 0x1000); // ends at 2^64
        Window zero = new Window(0, 0x1000);
        map.add(top);
        map.add(across);
        map.add(zero);
        assertEquals(List.of(zero, across, top), map.ranges(), "2^63 and above sort after what is below");
        assertSame(across, map.find(HALF - 4, 8), "an access across 2^63");
        assertSame(top, map.find(MAX, 1), "the last byte below 2^64");
        assertSame(top, map.find(MAX - 0xfff, 0x1000));
        assertNull(map.find(MAX, 2), "an access wrapping past 2^64");
        assertNull(map.find(HALF + 0x1000, 1));
    }

    @Test
    void refusesOverlapAndNamesTheRangeHeld() {
        RangeMap<Window> map = new RangeMap<>();
        Window held = new Window(0x2000, 0x2000);
        map.add(held);
        assertSame(held, map.overlapping(0x1000, 0x1001), "its first byte");
        assertSame(held, map.overlapping(0x3fff, 0x1000), "its last byte");
        assertSame(held, map.overlapping(0x2800, 0x10), "inside it");
        assertSame(held, map.overlapping(0, 0x10000), "around it");
        assertNull(map.overlapping(0x1000, 0x1000), "just below");
        assertNull(map.overlapping(0x4000, 0x1000), "just above");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> map.add(new Window(0x3000, 0x2000)));
        assertTrue(e.getMessage().contains("[0x2000+0x2000)"), e.getMessage());
        assertEquals(1, map.size(), "nothing added");
        map.add(new Window(0x4000, 0x1000)); // adjacent is not overlap
        assertEquals(2, map.size());
    }

    @Test
    void refusesEmptyAndWrappingRanges() {
        RangeMap<Window> map = new RangeMap<>();
        assertThrows(IllegalArgumentException.class, () -> map.add(new Window(0x1000, 0)));
        assertThrows(IllegalArgumentException.class, () -> map.add(new Window(MAX - 0xfff, 0x2000)));
        assertThrows(IllegalArgumentException.class, () -> map.overlapping(MAX, 2));
        assertTrue(map.isEmpty());
        Window top = new Window(HALF, HALF); // [2^63, 2^64): the largest range at 2^63
        map.add(top);
        assertSame(top, map.overlapping(MAX, 1));
        assertNull(map.overlapping(0, HALF), "[0, 2^63) only touches it");
    }

    @Test
    void removesByBase() {
        RangeMap<Window> map = new RangeMap<>();
        Window w = new Window(HALF, 0x1000);
        map.add(w);
        assertNull(map.at(HALF + 0x800), "at means the base");
        assertSame(w, map.at(HALF));
        assertNull(map.remove(HALF + 1));
        assertSame(w, map.remove(HALF));
        assertNull(map.find(HALF, 1));
        map.add(w);
        map.add(new Window(0, 0x1000));
        map.clear();
        assertTrue(map.isEmpty());
        assertEquals(List.of(), map.ranges());
    }
}
