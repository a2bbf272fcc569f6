package io.jvfio.vmm.range;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The edges of u64 arithmetic: 0, 2^63 - 1, 2^63, 2^64 - 1, and sums that wrap. */
class UnsignedRangeTest {

    private static final long MAX_SIGNED = Long.MAX_VALUE; // 2^63 - 1
    private static final long HALF = Long.MIN_VALUE; // 2^63
    private static final long MAX = -1L; // 2^64 - 1

    @Test
    void aRangeMayReachButNotPass2To64() {
        assertTrue(UnsignedRange.valid(0, MAX), "[0, 2^64 - 1)");
        assertTrue(UnsignedRange.valid(1, MAX), "[1, 2^64): its last byte is 2^64 - 1");
        assertFalse(UnsignedRange.valid(2, MAX), "[2, 2^64 + 1) wraps");
        assertTrue(UnsignedRange.valid(MAX, 1), "the last byte alone");
        assertFalse(UnsignedRange.valid(MAX, 2), "wraps to 0");
        assertFalse(UnsignedRange.valid(0xfffffffffffff000L, 0x2000), "a DMA window wrapping past 2^64");
        assertFalse(UnsignedRange.valid(0, 0), "empty");
        assertFalse(UnsignedRange.valid(MAX, 0), "empty");
        assertTrue(UnsignedRange.valid(HALF, HALF), "[2^63, 2^64)");
        assertFalse(UnsignedRange.valid(HALF, HALF + 1), "[2^63, 2^64 + 1)");
    }

    @Test
    void aRangeMayCross2To63() {
        assertTrue(UnsignedRange.valid(MAX_SIGNED, 2), "[2^63 - 1, 2^63 + 1)");
        assertTrue(UnsignedRange.valid(0x7ffffffffffff000L, 0x2000), "a DMA window across 2^63");
        assertEquals(0x8000000000000fffL, UnsignedRange.last(0x7ffffffffffff000L, 0x2000));
        assertTrue(UnsignedRange.valid(0, HALF), "a size of 2^63");
        assertEquals(MAX_SIGNED, UnsignedRange.last(0, HALF));
    }

    @Test
    void lastIsTheLastByteAndRefusesWhatWraps() {
        assertEquals(MAX, UnsignedRange.last(1, MAX));
        assertEquals(MAX, UnsignedRange.last(MAX, 1));
        assertEquals(0x1fff, UnsignedRange.last(0x1000, 0x1000));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> UnsignedRange.last(MAX, 2));
        assertTrue(e.getMessage().contains("0xffffffffffffffff+0x2"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> UnsignedRange.last(5, 0));
    }

    @Test
    void fitsRefusesOffsetsWhoseEndWraps() {
        assertTrue(UnsignedRange.fits(0, 4, 4));
        assertTrue(UnsignedRange.fits(0xffc, 4, 0x1000));
        assertFalse(UnsignedRange.fits(0xffd, 4, 0x1000));
        assertFalse(UnsignedRange.fits(0x7ffffffffffffffcL, 4, 0x1000), "the issue's offset: + 4 is 2^63, negative");
        assertFalse(UnsignedRange.fits(MAX_SIGNED, 1, 0x1000));
        assertFalse(UnsignedRange.fits(HALF, 1, 0x1000));
        assertFalse(UnsignedRange.fits(MAX, 1, 0x1000));
        assertFalse(UnsignedRange.fits(MAX, 2, MAX), "wraps to 1, which is below the size");
        assertFalse(UnsignedRange.fits(1, MAX, MAX), "the sum wraps to 0");
        assertFalse(UnsignedRange.fits(4, 8, 4), "a length larger than the size");
        assertTrue(UnsignedRange.fits(MAX_SIGNED, 1, HALF), "the last byte below 2^63");
        assertTrue(UnsignedRange.fits(HALF, 1, MAX), "a size above 2^63 is a size");
        assertTrue(UnsignedRange.fits(MAX - 1, 1, MAX));
        assertFalse(UnsignedRange.fits(MAX - 1, 2, MAX));
        assertTrue(UnsignedRange.fits(4, 0, 4), "an empty access at the end");
        assertFalse(UnsignedRange.fits(5, 0, 4));
        assertFalse(UnsignedRange.fits(0, 1, 0), "nothing fits in nothing");
        assertFalse(UnsignedRange.fits(-4, 4, 0x1000), "a negative int offset, widened, is huge");
    }

    @Test
    void fitsAtRefusesABaseAndOffsetWhoseSumWraps() {
        assertTrue(UnsignedRange.fitsAt(0x1000, 0x1000, 0x1000, 0x3000), "an area at 0x2000 of a 0x3000-byte file");
        assertFalse(UnsignedRange.fitsAt(0x1000, 0x1000, 0x1001, 0x3000));
        assertFalse(UnsignedRange.fitsAt(MAX, 1, 0, 0x3000), "base + offset wraps to 0, which would fit");
        assertFalse(UnsignedRange.fitsAt(HALF, HALF, 0x1000, 0x3000), "2^63 + 2^63 wraps to 0");
        assertTrue(UnsignedRange.fitsAt(HALF, MAX_SIGNED - 1, 1, MAX), "the last byte of a 2^64 - 1 size");
        assertFalse(UnsignedRange.fitsAt(HALF, MAX_SIGNED, 1, MAX), "one past it");
        assertFalse(UnsignedRange.fitsAt(0, 0, 1, 0), "nothing fits in an empty file");
    }

    @Test
    void containsAndWithinAreUnsigned() {
        assertTrue(UnsignedRange.contains(HALF, 0x1000, HALF + 0xfff));
        assertFalse(UnsignedRange.contains(HALF, 0x1000, HALF + 0x1000));
        assertFalse(UnsignedRange.contains(HALF, 0x1000, 0), "0 is below 2^63, not above it");
        assertTrue(UnsignedRange.contains(MAX_SIGNED, 2, HALF));
        assertTrue(UnsignedRange.contains(1, MAX, MAX));
        assertFalse(UnsignedRange.contains(1, MAX, 0));
        assertFalse(UnsignedRange.contains(0, 0, 0), "an empty range holds nothing");

        assertTrue(UnsignedRange.within(0x7ffffffffffff000L, 0x2000, MAX_SIGNED, 2), "across 2^63");
        assertFalse(UnsignedRange.within(0x7ffffffffffff000L, 0x2000, 0x8000000000000fffL, 2));
        assertFalse(UnsignedRange.within(0x1000, 0x1000, 0xfff, 2), "starts below");
        assertFalse(UnsignedRange.within(0x1000, 0x1000, MAX, 2), "wraps around to the start");
        assertTrue(UnsignedRange.within(1, MAX, MAX, 1));
    }

    @Test
    void overlapsSeesRangesOnBothSidesOf2To63() {
        assertTrue(UnsignedRange.overlaps(0, 0x2000, 0x1000, 0x1000));
        assertFalse(UnsignedRange.overlaps(0, 0x1000, 0x1000, 0x1000), "adjacent");
        assertTrue(UnsignedRange.overlaps(0x7ffffffffffff000L, 0x2000, HALF, 0x1000));
        assertFalse(UnsignedRange.overlaps(0x7ffffffffffff000L, 0x1000, HALF, 0x1000), "adjacent at 2^63");
        assertTrue(UnsignedRange.overlaps(HALF, HALF, MAX, 1));
        assertTrue(UnsignedRange.overlaps(MAX, 1, 1, MAX));
        assertFalse(UnsignedRange.overlaps(0, 0, 0, 1), "empty");
        assertFalse(UnsignedRange.overlaps(0, HALF, HALF, HALF), "the two halves of the u64 space");
    }

    private record Span(long base, long size) implements Ranged {
    }

    @Test
    void findSearchesRangesSortedByUnsignedBase() {
        Span low = new Span(0x1000, 0x1000);
        Span below = new Span(MAX_SIGNED - 0xFFF, 0x1000); // ends at 2^63 - 1
        Span across = new Span(HALF - 0x800, 0x1000); // not sorted in with `below`: see the second array
        Span high = new Span(HALF, 0x1000);
        Span top = new Span(MAX - 0xFFF, 0x1000); // its last byte is 2^64 - 1
        Span[] sorted = {low, below, high, top};
        assertEquals(null, UnsignedRange.find(sorted, 0), "below the first");
        assertEquals(low, UnsignedRange.find(sorted, 0x1000));
        assertEquals(low, UnsignedRange.find(sorted, 0x1FFF));
        assertEquals(null, UnsignedRange.find(sorted, 0x2000), "in a gap");
        assertEquals(below, UnsignedRange.find(sorted, MAX_SIGNED));
        assertEquals(high, UnsignedRange.find(sorted, HALF), "2^63 is above 2^63 - 1, not negative");
        assertEquals(null, UnsignedRange.find(sorted, HALF + 0x1000));
        assertEquals(top, UnsignedRange.find(sorted, MAX));
        assertEquals(across, UnsignedRange.find(new Span[] {low, across, top}, HALF + 0x7FF),
                "a range crossing 2^63");
        assertEquals(null, UnsignedRange.find(new Span[0], 0x1000), "no ranges");
    }
}
