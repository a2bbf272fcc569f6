package io.jvfio.vfio.user;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fuzzers fail on a leak Netty reports: this shows that a buffer nobody releases is reported and
 * seen, so that their check can fail. The lost buffer is an unpooled direct one whose memory the JDK's
 * cleaner frees (Netty 4.2 does not track unpooled heap buffers), so that the pooled counts other
 * tests compare are not disturbed by it.
 */
class RecordingLeakDetectorTest {

    @Test
    void aBufferNobodyReleasesIsReported() throws Exception {
        RecordingLeakDetector.requireInstalled();
        ResourceLeakDetector.Level level = ResourceLeakDetector.getLevel();
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        try {
            int before = RecordingLeakDetector.collect();
            lose();
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (RecordingLeakDetector.collect() == before) {
                assertTrue(System.nanoTime() < deadline, "the lost buffer was not reported within 10 s");
            }
            List<String> reports = RecordingLeakDetector.reportsSince(before);
            assertTrue(reports.get(0).contains("ByteBuf") && reports.get(0).contains("lose"), reports.get(0));
        } finally {
            ResourceLeakDetector.setLevel(level);
        }
    }

    private static void lose() {
        ByteBuf b = new UnpooledByteBufAllocator(true, false, false).directBuffer(64);
        b.writeLong(0x1ea7L); // an access, recorded with its stack
    }
}
