package io.jvfio.memory;

import io.jvfio.vmm.migration.DirtyLog;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** GuestMemory.writeLog(): the pages GuestRam's write methods wrote, in runs, only while started. */
class RamWriteLogTest {

    private static final long MIB = 1 << 20;

    private static List<String> collect(DirtyLog log) {
        List<String> runs = new ArrayList<>();
        log.collect((address, length) -> runs.add(Long.toHexString(address) + "+" + Long.toHexString(length)));
        return runs;
    }

    @Test
    void logsTheWritesWhileStarted() {
        try (GuestMemory mem = new GuestMemory()) {
            mem.addRegion("low", 0, MemoryBackend.memfd("low", 2 * MIB, false));
            mem.addRegion("high", 1L << 32, MemoryBackend.memfd("high", MIB, false));
            GuestRam ram = mem.ram();
            DirtyLog log = mem.writeLog();
            ram.writeU32(0x1000, 1); // before start: not logged
            log.start();
            assertEquals(List.of(), collect(log));
            ram.writeU8(0x2001, 1);
            ram.writeU64(0x3ffc, 1);                            // crosses into the next page
            ram.write(0x10000, new byte[3 * 4096], 0, 3 * 4096); // a run of three pages
            ram.write((1L << 32) + 0x5000, ByteBuffer.allocate(16));
            ram.writeU16(0x7fffe, 1);
            ram.read(0x9000, new byte[8], 0, 8);                 // reads are not writes
            List<String> runs = collect(log);
            runs.sort(null);
            assertEquals(List.of("10000+3000", "100005000+1000", "2000+3000", "7f000+1000"), runs);
            assertEquals(List.of(), collect(log), "a collect clears what it reported");
            ram.writeU32(0x1000, 2);
            log.stop();
            assertEquals(List.of(), collect(log), "nothing is reported after stop");
            ram.writeU32(0x1000, 3);
            log.start();
            assertEquals(List.of(), collect(log), "a start begins clean");
        }
    }
}
