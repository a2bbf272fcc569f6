package io.jvfio.benchmarks;

import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static io.jvfio.benchmarks.GuestMemoryBenchmark.BASE;
import static io.jvfio.benchmarks.GuestMemoryBenchmark.PAGE;
import static io.jvfio.benchmarks.GuestMemoryBenchmark.SIZE;

/**
 * {@link GuestMemoryBenchmark}'s sequential u64 read and write, GuestMemory against a raw direct
 * ByteBuffer, for a machine too busy for JMH's one-benchmark-after-the-other to rank them: the four
 * loops take turns, a million accesses each, for 400 rounds in one JVM, and each keeps its best round
 * after 50 of warm-up, so that the load of other processes, which only ever adds time, falls on all
 * four alike and drops out of the best. Every access takes the snapshot ({@code memory.ram()}), as
 * the benchmark's do, and every loop reads a volatile flag per access, as JMH's loop does.
 *
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar io.jvfio.benchmarks.GuestMemoryInterleaved
 * </pre>
 */
public final class GuestMemoryInterleaved {

    private static final int ROUNDS = 400;
    private static final int WARM_UP = 50;
    private static final int ACCESSES = 1_000_000;

    private static volatile boolean stop;

    private final GuestMemory memory = new GuestMemory();
    private final ByteBuffer raw = ByteBuffer.allocateDirect(SIZE).order(ByteOrder.LITTLE_ENDIAN);
    private long sequential;

    private GuestMemoryInterleaved() {
        memory.addRegion("ram", BASE, MemoryBackend.memfd("interleaved-ram", SIZE, false));
        for (int off = 0; off < SIZE; off += PAGE) { // fault every page in before measuring
            memory.ram().writeU64(BASE + off, off);
            raw.putLong(off, off);
        }
    }

    private long next() {
        sequential = (sequential + 8) & (SIZE - 1);
        return sequential;
    }

    // One method per loop, so that each is compiled for its own access alone.

    private long guestRead() {
        long sum = 0;
        for (int i = 0; i < ACCESSES && !stop; i++) {
            sum += memory.ram().readU64(BASE + next());
        }
        return sum;
    }

    private long rawRead() {
        long sum = 0;
        for (int i = 0; i < ACCESSES && !stop; i++) {
            sum += raw.getLong((int) next());
        }
        return sum;
    }

    private long guestWrite() {
        for (int i = 0; i < ACCESSES && !stop; i++) {
            long off = next();
            memory.ram().writeU64(BASE + off, off);
        }
        return 0;
    }

    private long rawWrite() {
        for (int i = 0; i < ACCESSES && !stop; i++) {
            long off = next();
            raw.putLong((int) off, off);
        }
        return 0;
    }

    private long run(int loop) {
        return switch (loop) {
            case 0 -> guestRead();
            case 1 -> rawRead();
            case 2 -> guestWrite();
            default -> rawWrite();
        };
    }

    public static void main(String[] args) {
        GuestMemoryInterleaved b = new GuestMemoryInterleaved();
        double[] best = {Double.MAX_VALUE, Double.MAX_VALUE, Double.MAX_VALUE, Double.MAX_VALUE};
        long sum = 0;
        for (int round = 0; round < ROUNDS; round++) {
            for (int loop = 0; loop < 4; loop++) {
                long t = System.nanoTime();
                sum += b.run(loop);
                double ns = (System.nanoTime() - t) / (double) ACCESSES;
                if (round >= WARM_UP) {
                    best[loop] = Math.min(best[loop], ns);
                }
            }
        }
        b.memory.close();
        System.out.printf("u64 read, sequential:  GuestMemory %.3f ns, raw ByteBuffer %.3f ns, %.2fx%n", best[0], best[1],
                best[0] / best[1]);
        System.out.printf("u64 write, sequential: GuestMemory %.3f ns, raw ByteBuffer %.3f ns, %.2fx%n", best[2], best[3],
                best[2] / best[3]);
        System.out.println("(best of " + (ROUNDS - WARM_UP) + " rounds of " + ACCESSES + " accesses; checksum " + sum + ")");
    }
}
