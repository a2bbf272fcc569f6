package io.jvfio.benchmarks;

import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Guest RAM accesses as a device makes them, {@code memory.ram().readU64(gpa)} (the snapshot's
 * volatile read, region lookup, bounds check, little-endian view)
 * beside the same access on a raw direct ByteBuffer of the same size, in the same run: sequential
 * and random u64 reads and writes over 64 MiB, and 4 KiB copies to and from an array and a direct
 * buffer. Each pair's ratio is the figure; {@code -prof gc} shows that neither side allocates.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class GuestMemoryBenchmark {

    static final int SIZE = 64 << 20;
    static final long BASE = 0x100000;
    static final int PAGE = 4096;
    static final int RANDOM = 1 << 16;

    private GuestMemory memory;
    private ByteBuffer raw;
    private final long[] randomOffsets = new long[RANDOM];
    private final byte[] array = new byte[PAGE];
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(PAGE);
    private long sequential;
    private int random;
    private long page;

    @Setup(Level.Trial)
    public void setup() {
        memory = new GuestMemory();
        memory.addRegion("ram", BASE, MemoryBackend.memfd("benchmark-ram", SIZE, false));
        raw = ByteBuffer.allocateDirect(SIZE).order(ByteOrder.LITTLE_ENDIAN);
        for (int off = 0; off < SIZE; off += PAGE) { // fault every page in before measuring
            memory.ram().writeU64(BASE + off, off);
            raw.putLong(off, off);
        }
        SplittableRandom rnd = new SplittableRandom(42);
        for (int i = 0; i < RANDOM; i++) {
            randomOffsets[i] = rnd.nextInt(SIZE / 8) * 8L;
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        memory.close();
    }

    private long nextSequential() {
        sequential = (sequential + 8) & (SIZE - 1);
        return sequential;
    }

    private long nextRandom() {
        random = (random + 1) & (RANDOM - 1);
        return randomOffsets[random];
    }

    private long nextPage() {
        page = (page + PAGE) & (SIZE - 1);
        return page;
    }

    @Benchmark
    public long sequentialReadU64Guest() {
        return memory.ram().readU64(BASE + nextSequential());
    }

    @Benchmark
    public long sequentialReadU64Raw() {
        return raw.getLong((int) nextSequential());
    }

    @Benchmark
    public void sequentialWriteU64Guest() {
        long off = nextSequential();
        memory.ram().writeU64(BASE + off, off);
    }

    @Benchmark
    public void sequentialWriteU64Raw() {
        long off = nextSequential();
        raw.putLong((int) off, off);
    }

    @Benchmark
    public long randomReadU64Guest() {
        return memory.ram().readU64(BASE + nextRandom());
    }

    @Benchmark
    public long randomReadU64Raw() {
        return raw.getLong((int) nextRandom());
    }

    @Benchmark
    public void randomWriteU64Guest() {
        long off = nextRandom();
        memory.ram().writeU64(BASE + off, off);
    }

    @Benchmark
    public void randomWriteU64Raw() {
        long off = nextRandom();
        raw.putLong((int) off, off);
    }

    @Benchmark
    public byte[] copy4kToArrayGuest() {
        memory.ram().read(BASE + nextPage(), array, 0, PAGE);
        return array;
    }

    @Benchmark
    public byte[] copy4kToArrayRaw() {
        raw.get((int) nextPage(), array, 0, PAGE);
        return array;
    }

    @Benchmark
    public void copy4kFromArrayGuest() {
        memory.ram().write(BASE + nextPage(), array, 0, PAGE);
    }

    @Benchmark
    public void copy4kFromArrayRaw() {
        raw.put((int) nextPage(), array, 0, PAGE);
    }

    @Benchmark
    public ByteBuffer copy4kToBufferGuest() {
        buffer.clear();
        memory.ram().read(BASE + nextPage(), buffer);
        return buffer;
    }

    @Benchmark
    public ByteBuffer copy4kToBufferRaw() {
        buffer.clear();
        buffer.put(0, raw, (int) nextPage(), PAGE);
        return buffer;
    }
}
