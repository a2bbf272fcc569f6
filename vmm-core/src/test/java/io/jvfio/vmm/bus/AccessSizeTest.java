package io.jvfio.vmm.bus;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AccessSizeTest {

    @Test
    void allOnesOfEachWidth() {
        assertEquals(0xFFL, AccessSize.allOnes(1));
        assertEquals(0xFFFFL, AccessSize.allOnes(2));
        assertEquals(0xFFFF_FFFFL, AccessSize.allOnes(4));
        assertEquals(-1L, AccessSize.allOnes(8));
    }

    @Test
    void maskCutsToTheWidthUnsigned() {
        assertEquals(0xEFL, AccessSize.mask(0xDEAD_BEEFL, 1));
        assertEquals(0xBEEFL, AccessSize.mask(0xDEAD_BEEFL, 2));
        assertEquals(0xFFFF_FFFFL, AccessSize.mask(-1, 4), "an int's sign extension is cut off");
        assertEquals(0x8000_0000_0000_0001L, AccessSize.mask(0x8000_0000_0000_0001L, 8));
    }

    @Test
    void getAndPutAreLittleEndianUnsigned() {
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        AccessSize.put(b, 1, 8, 0x8877_6655_4433_2211L);
        assertArrayEquals(new byte[] {0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, (byte) 0x88, 0},
                java.util.Arrays.copyOf(b.array(), 10));
        assertEquals(0x11L, AccessSize.get(b, 1, 1));
        assertEquals(0x2211L, AccessSize.get(b, 1, 2));
        assertEquals(0x4433_2211L, AccessSize.get(b, 1, 4));
        assertEquals(0x8877_6655_4433_2211L, AccessSize.get(b, 1, 8));
        assertEquals(0x88L, AccessSize.get(b, 8, 1), "a byte with its top bit set reads unsigned");

        AccessSize.put(b, 12, 2, 0xFFFF_ABCDL);
        assertEquals(0xABCDL, AccessSize.get(b, 12, 4), "a 2-byte store writes 2 bytes only");
        AccessSize.put(b, 12, 4, 0xF000_0000L);
        assertEquals(0xF000_0000L, AccessSize.get(b, 12, 4), "a 4-byte value with its top bit set reads unsigned");
        AccessSize.put(b, 0, 1, 0x1FF);
        assertEquals(0x2211_FFL, AccessSize.get(b, 0, 4) & 0xFF_FFFFL);
    }

    @Test
    void otherWidthsAreRefusedByName() {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AccessSize.get(b, 0, 3));
        assertTrue(e.getMessage().contains("access size 3"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> AccessSize.put(b, 0, 16, 0));
        for (int size : new int[] {1, 2, 4, 8}) {
            AccessSize.check(size);
        }
        for (int size : new int[] {0, 3, 16, -1}) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> AccessSize.check(size)).getMessage()
                    .contains("access size " + size));
        }
    }
}
