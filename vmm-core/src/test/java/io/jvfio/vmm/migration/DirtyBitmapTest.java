package io.jvfio.vmm.migration;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class DirtyBitmapTest {

    private static List<String> runs(long[] bitmap, long base, long length, long pageSize) {
        List<String> runs = new ArrayList<>();
        DirtyBitmap.report(bitmap, base, length, pageSize, (a, l) -> runs.add(Long.toHexString(a) + "+" + Long.toHexString(l)));
        return runs;
    }

    @Test
    void consecutivePagesAreOneRunAcrossWords() {
        long[] bitmap = new long[3];
        bitmap[0] = 1L << 63 | 1;          // pages 0 and 63
        bitmap[1] = 0xF;                   // pages 64-67: one run with 63
        bitmap[2] = 1L << 2;               // page 130
        assertEquals(List.of("100000+1000", "13f000+5000", "182000+1000"), runs(bitmap, 0x100000, 192 * 4096L, 4096));
    }

    @Test
    void aCleanBitmapReportsNothingAndBitsPastTheRangeAreIgnored() {
        assertEquals(List.of(), runs(new long[4], 0, 256 * 4096L, 4096));
        assertEquals(List.of("0+2000"), runs(new long[] {-1L}, 0, 2 * 4096L, 4096), "two pages: 62 bits past the end");
        assertEquals(List.of("2000+1000"), runs(new long[] {-1L << 2}, 0, 0x2800, 4096), "a partial last page is a page");
    }
}
