package io.jvfio.migration;

import io.jvfio.machine.VirtualMachine;
import io.jvfio.memory.GuestRam;
import io.jvfio.vmm.migration.Migratable;
import io.jvfio.vmm.migration.MigrationException;
import io.jvfio.vmm.pci.TestFunction;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The migration engine between two machines of this JVM without KVM ({@code -accel none}): RAM pre-copy
 * over a real unix socket while a thread keeps writing guest RAM, through a file, and each refusal.
 */
class MigrationStreamTest {

    private static final Duration END = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    private final List<AutoCloseable> closing = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (int i = closing.size() - 1; i >= 0; i--) {
            closing.get(i).close();
        }
    }

    private VirtualMachine machine(String memory) {
        VirtualMachine vm = VirtualMachine.builder().memory(memory).accelerator(VirtualMachine.Accelerator.NONE).build();
        closing.add(vm);
        return vm;
    }

    private VirtualMachine machine(String memory, String deviceId, io.jvfio.vmm.pci.PciFunction device) {
        VirtualMachine vm = VirtualMachine.builder().memory(memory).accelerator(VirtualMachine.Accelerator.NONE)
                .device(deviceId, m -> device).build();
        closing.add(vm);
        return vm;
    }

    /** Writes guest RAM through GuestRam until stopped: the guest of a machine without vCPUs. */
    private static final class RamWriter implements MigrationListener {
        private final GuestRam ram;
        private final AtomicBoolean run = new AtomicBoolean(true);
        private final AtomicLong writes = new AtomicLong();
        private final Thread thread;
        volatile boolean stoppingSeen;

        RamWriter(GuestRam ram) {
            this.ram = ram;
            long size = ram.totalSize();
            thread = new Thread(() -> {
                java.util.SplittableRandom r = new java.util.SplittableRandom(42);
                byte[] block = new byte[4096];
                while (run.get()) {
                    long page = r.nextLong(size >>> 12) << 12;
                    if (r.nextInt(8) == 0) {
                        r.nextBytes(block);
                        ram.write(page, block, 0, block.length);
                    } else {
                        ram.writeU64(page + (r.nextInt(512) << 3), r.nextLong() | 1);
                    }
                    writes.incrementAndGet();
                }
            }, "ram-writer");
            thread.start();
        }

        @Override
        public void stopping() {
            stoppingSeen = true;
            stop();
        }

        @Override
        public void failed(String reason) {
            stop();
        }

        void stop() {
            run.set(false);
            try {
                thread.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static void assertSameRam(VirtualMachine a, VirtualMachine b) {
        GuestRam ra = a.memory().ram();
        GuestRam rb = b.memory().ram();
        assertEquals(ra.totalSize(), rb.totalSize());
        byte[] x = new byte[1 << 20];
        byte[] y = new byte[1 << 20];
        for (var region : ra.regions()) {
            for (long off = 0; off < region.size(); off += x.length) {
                int n = (int) Math.min(x.length, region.size() - off);
                ra.read(region.start() + off, x, 0, n);
                rb.read(region.start() + off, y, 0, n);
                if (!Arrays.equals(x, 0, n, y, 0, n)) {
                    int at = Arrays.mismatch(x, 0, n, y, 0, n);
                    throw new AssertionError("RAM differs at 0x" + Long.toHexString(region.start() + off + at));
                }
            }
        }
    }

    @Test
    void preCopyOverAUnixSocketWhileTheGuestWrites() throws Exception {
        VirtualMachine src = machine("64M");
        VirtualMachine dst = machine("64M");
        Path socket = dir.resolve("mig.sock");
        IncomingMigration in = new MigrationControl(dst, "test").incoming("unix:" + socket);
        MigrationControl control = new MigrationControl(src, "test");
        control.parameters().maxBandwidth(0);
        control.parameters().downtimeLimitMs(1); // the writer keeps dirtying: several rounds, then the bound
        RamWriter writer = new RamWriter(src.memory().ram());
        control.addListener(writer);
        List<MigrationStatus> statuses = new java.util.concurrent.CopyOnWriteArrayList<>();
        control.addListener(new MigrationListener() {
            @Override
            public void statusChanged(MigrationStatus status) {
                statuses.add(status);
            }
        });
        try {
            OutgoingMigration out = control.migrate("unix:" + socket, VcpuControl.of(src));
            MigrationInfo done = out.awaitEnd(END);
            assertNotNull(done, "the migration did not end within " + END);
            assertEquals(MigrationStatus.COMPLETED, done.status(), () -> "error: " + done.errorDesc());
            MigrationInfo loaded = in.awaitLoaded();
            assertEquals(MigrationStatus.COMPLETED, loaded.status());
            assertTrue(writer.stoppingSeen);
            assertTrue(writer.writes.get() > 1000, "the guest wrote " + writer.writes.get() + " times");
            assertTrue(done.ram().dirtySyncCount() > 2, "dirty syncs: " + done.ram().dirtySyncCount());
            assertTrue(done.ram().duplicate() > 0 && done.ram().normal() > 0, done.ram().toString());
            assertEquals(64L << 20, done.ram().total());
            assertNotNull(done.downtimeMs());
            assertEquals(List.of(MigrationStatus.SETUP, MigrationStatus.ACTIVE, MigrationStatus.DEVICE,
                    MigrationStatus.COMPLETED), statuses);
            assertSameRam(src, dst);
        } finally {
            writer.stop();
        }
    }

    @Test
    void throughAFile() throws Exception {
        VirtualMachine src = machine("32M");
        src.memory().ram().write(0x123000, "through a file".getBytes(), 0, 14);
        Path file = dir.resolve("vm.mig");
        MigrationInfo done = migrateToFile(src, file);
        assertEquals(MigrationStatus.COMPLETED, done.status(), () -> "error: " + done.errorDesc());
        VirtualMachine dst = machine("32M");
        MigrationInfo loaded = new MigrationControl(dst, "test").incoming("file:" + file).awaitLoaded();
        assertEquals(MigrationStatus.COMPLETED, loaded.status());
        assertSameRam(src, dst);
    }

    @Test
    void deferThenMigrateIncoming() throws Exception {
        VirtualMachine src = machine("16M");
        src.memory().ram().writeU64(0x8000, 0xfeedL);
        Path file = dir.resolve("vm.mig");
        assertEquals(MigrationStatus.COMPLETED, migrateToFile(src, file).status());
        VirtualMachine dst = machine("16M");
        MigrationControl control = new MigrationControl(dst, "test");
        assertNull(control.incoming("defer"));
        assertTrue(control.awaitingIncoming());
        AtomicReference<Object> result = new AtomicReference<>();
        Thread launcher = new Thread(() -> {
            try {
                result.set(control.awaitIncomingLoaded());
            } catch (InterruptedException | RuntimeException e) {
                result.set(e);
            }
        });
        launcher.start();
        control.migrateIncoming("file:" + file);
        launcher.join(END.toMillis());
        assertTrue(result.get() instanceof MigrationInfo i && i.status() == MigrationStatus.COMPLETED,
                String.valueOf(result.get()));
        assertEquals(0xfeedL, dst.memory().ram().readU64(0x8000));
        assertTrue(!control.awaitingIncoming());
    }

    private MigrationInfo migrateToFile(VirtualMachine src, Path file) throws InterruptedException {
        MigrationControl control = new MigrationControl(src, "test");
        control.parameters().maxBandwidth(0);
        MigrationInfo done = control.migrate("file:" + file, VcpuControl.of(src)).awaitEnd(END);
        assertNotNull(done);
        return done;
    }

    private String loadFails(VirtualMachine dst, Path file) {
        IncomingMigration in = new MigrationControl(dst, "test").incoming("file:" + file);
        MigrationException e = assertThrows(MigrationException.class, in::awaitLoaded);
        assertEquals(MigrationStatus.FAILED, in.status());
        return e.getMessage();
    }

    @Test
    void aDeviceWithoutMigrationBlocksMigrate() {
        VirtualMachine src = machine("16M", "mine", new TestFunction(256));
        MigrationControl control = new MigrationControl(src, "test");
        Path file = dir.resolve("never.mig");
        MigrationException e = assertThrows(MigrationException.class,
                () -> control.migrate("file:" + file, VcpuControl.of(src)));
        assertTrue(e.getMessage().startsWith("device '00:01.0' (mine) cannot migrate: "), e.getMessage());
        assertTrue(Files.notExists(file), "nothing started");
        assertNull(control.outgoing());
    }

    @Test
    void anotherStreamFormatIsRefused() throws Exception {
        VirtualMachine src = machine("16M");
        Path file = dir.resolve("vm.mig");
        assertEquals(MigrationStatus.COMPLETED, migrateToFile(src, file).status());
        try (FileChannel f = FileChannel.open(file, StandardOpenOption.WRITE)) {
            f.write(ByteBuffer.wrap(new byte[] {2}), StreamFormat.VERSION_OFFSET + 3);
        }
        String message = loadFails(machine("16M"), file);
        assertEquals("load of migration failed: the stream is format 2, this jvfio (test) reads format 1: migrate "
                + "between jvfio versions of one stream format", message);
    }

    @Test
    void anotherMachineShapeIsRefused() throws Exception {
        VirtualMachine src = machine("64M");
        Path file = dir.resolve("vm.mig");
        assertEquals(MigrationStatus.COMPLETED, migrateToFile(src, file).status());
        String message = loadFails(machine("32M"), file);
        assertTrue(message.startsWith("load of migration failed: RAM differs: the stream's is 64 MiB, this machine's "
                + "32 MiB"), message);
    }

    @Test
    void anotherDeviceIsRefused() throws Exception {
        VirtualMachine src = machine("16M", "d0", new MigratableFunction("test-pci 1234:11e8"));
        Path file = dir.resolve("vm.mig");
        MigrationInfo done = migrateToFile(src, file);
        assertEquals(MigrationStatus.COMPLETED, done.status(), () -> "error: " + done.errorDesc());
        String message = loadFails(machine("16M", "d0", new MigratableFunction("test-pci 1234:0001")), file);
        assertEquals("load of migration failed: device '00:01.0' differs: the stream's is test-pci 1234:11e8, this "
                + "machine's test-pci 1234:0001", message);
        MigratableFunction same = new MigratableFunction("test-pci 1234:11e8");
        new MigrationControl(machine("16M", "d0", same), "test").incoming("file:" + file).awaitLoaded();
        assertEquals("state of test-pci 1234:11e8", same.restored.get());
    }

    @Test
    void aTruncatedStreamIsRefused() throws Exception {
        VirtualMachine src = machine("16M");
        src.memory().ram().writeU64(0x5000, 0x1234);
        Path file = dir.resolve("vm.mig");
        assertEquals(MigrationStatus.COMPLETED, migrateToFile(src, file).status());
        try (FileChannel f = FileChannel.open(file, StandardOpenOption.WRITE)) {
            f.truncate(f.size() / 2);
        }
        String message = loadFails(machine("16M"), file);
        assertTrue(message.startsWith("load of migration failed: the stream is truncated: it ends after "), message);
    }

    @Test
    void aDestinationThatDiesLeavesTheSourceRunning() throws Exception {
        VirtualMachine src = machine("64M");
        src.memory().ram().write(0x10000, new byte[1 << 20], 0, 1 << 20); // touched, zeros
        for (long a = 0; a < (8L << 20); a += 4096) {
            src.memory().ram().writeU64(a, a + 1); // 8 MiB of pages that go whole
        }
        Path socket = dir.resolve("dies.sock");
        AtomicLong read = new AtomicLong();
        AtomicReference<Throwable> serverFailure = new AtomicReference<>();
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(socket));
            Thread dying = new Thread(() -> {
                try (SocketChannel c = server.accept(); InputStream in = java.nio.channels.Channels.newInputStream(c)) {
                    byte[] b = new byte[65536];
                    while (read.get() < (1 << 20)) {
                        int n = in.read(b);
                        if (n < 0) {
                            break;
                        }
                        read.addAndGet(n);
                    }
                } catch (IOException e) {
                    serverFailure.set(e);
                }
            });
            dying.start();
            MigrationControl control = new MigrationControl(src, "test");
            control.parameters().maxBandwidth(0);
            AtomicReference<String> failedWith = new AtomicReference<>();
            control.addListener(new MigrationListener() {
                @Override
                public void failed(String reason) {
                    failedWith.set(reason);
                }
            });
            MigrationInfo failed = control.migrate("unix:" + socket, VcpuControl.of(src)).awaitEnd(END);
            dying.join(END.toMillis());
            assertNull(serverFailure.get());
            assertNotNull(failed);
            assertEquals(MigrationStatus.FAILED, failed.status());
            assertTrue(failed.errorDesc().startsWith("Unable to write to socket: ")
                    || failed.errorDesc().startsWith("the destination went away: "), failed.errorDesc());
            assertEquals(failed.errorDesc(), failedWith.get());

            // The source is whole: a later migration to a real destination succeeds.
            Path good = dir.resolve("good.sock");
            VirtualMachine dst = machine("64M");
            IncomingMigration in = new MigrationControl(dst, "test").incoming("unix:" + good);
            MigrationInfo done = control.migrate("unix:" + good, VcpuControl.of(src)).awaitEnd(END);
            assertEquals(MigrationStatus.COMPLETED, done.status(), () -> "error: " + done.errorDesc());
            in.awaitLoaded();
            assertSameRam(src, dst);
        }
    }

    /**
     * A cancel in the device phase (the machine stopped, a device's state being taken): the migration ends
     * CANCELLED, the statuses in order (no phase announced after CANCELLING), every paused part resumed, and a
     * second migration completes. The device's snapshot is held until the cancel has been asked for.
     */
    @Test
    void aCancelInTheDevicePhaseResumesEveryPart() throws Exception {
        java.util.concurrent.CountDownLatch taking = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        AtomicLong resumes = new AtomicLong();
        AtomicBoolean hold = new AtomicBoolean(true);
        MigratableFunction device = new MigratableFunction("test-pci 1234:11e8") {
            @Override
            public void resume() {
                resumes.incrementAndGet();
            }

            @Override
            public byte[] snapshot() {
                if (hold.get()) {
                    taking.countDown();
                    // Held until released, through the cancel's interrupt (kept for the caller to see): the
                    // status is then still CANCELLING when the test looks, whatever the threads' timing.
                    boolean interrupted = false;
                    while (true) {
                        try {
                            release.await();
                            break;
                        } catch (InterruptedException e) {
                            interrupted = true;
                        }
                    }
                    if (interrupted) {
                        Thread.currentThread().interrupt();
                    }
                }
                return super.snapshot();
            }
        };
        VirtualMachine src = machine("16M", "dev", device);
        MigrationControl control = new MigrationControl(src, "test");
        List<MigrationStatus> statuses = new java.util.concurrent.CopyOnWriteArrayList<>();
        control.addListener(new MigrationListener() {
            @Override
            public void statusChanged(MigrationStatus status) {
                statuses.add(status);
            }
        });
        OutgoingMigration out = control.migrate("file:" + dir.resolve("cancelled.migration"), VcpuControl.of(src));
        try {
            assertTrue(taking.await(END.toSeconds(), java.util.concurrent.TimeUnit.SECONDS),
                    "the device phase did not come: " + statuses);
            assertEquals(MigrationStatus.DEVICE, out.status());
            control.cancel();
            assertEquals(MigrationStatus.CANCELLING, out.status());
        } finally {
            release.countDown();
        }
        MigrationInfo done = out.awaitEnd(END);
        assertNotNull(done, "the cancelled migration did not end within " + END);
        assertEquals(MigrationStatus.CANCELLED, done.status());
        assertEquals(List.of(MigrationStatus.SETUP, MigrationStatus.ACTIVE, MigrationStatus.DEVICE,
                MigrationStatus.CANCELLING, MigrationStatus.CANCELLED), statuses);
        assertEquals(1, resumes.get(), "the paused device was resumed once");

        hold.set(false);
        statuses.clear();
        MigrationInfo again = control.migrate("file:" + dir.resolve("again.migration"), VcpuControl.of(src))
                .awaitEnd(END);
        assertNotNull(again, "the second migration did not end within " + END);
        assertEquals(MigrationStatus.COMPLETED, again.status(), () -> "error: " + again.errorDesc());
    }

    @Test
    void badUrisInQemusWords() {
        VirtualMachine src = machine("16M");
        MigrationControl control = new MigrationControl(src, "test");
        assertEquals("unknown migration protocol: nowhere (give unix:PATH or file:PATH)", assertThrows(
                MigrationException.class, () -> control.migrate("nowhere", VcpuControl.of(src))).getMessage());
        MigrationControl dst = new MigrationControl(machine("16M"), "test");
        assertEquals("'-incoming' was not specified on the command line", assertThrows(MigrationException.class,
                () -> dst.migrateIncoming("unix:" + dir.resolve("x"))).getMessage());
        assertNull(dst.incoming("defer"));
        assertEquals("Guest is waiting for an incoming migration", assertThrows(MigrationException.class,
                () -> dst.migrate("file:" + dir.resolve("y"), VcpuControl.of(src))).getMessage());
    }

    /** A device that migrates: a test function with a state id and a state. */
    static class MigratableFunction implements io.jvfio.vmm.pci.PciFunction, Migratable {
        private final TestFunction f = new TestFunction(256);
        private final String stateId;
        final AtomicReference<String> restored = new AtomicReference<>();

        MigratableFunction(String stateId) {
            this.stateId = stateId;
        }

        @Override
        public String stateId() {
            return stateId;
        }

        @Override
        public void pause() {
        }

        @Override
        public void resume() {
        }

        @Override
        public byte[] snapshot() {
            return ("state of " + stateId).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        }

        @Override
        public void restore(byte[] state) {
            restored.set(new String(state, java.nio.charset.StandardCharsets.UTF_8));
        }

        @Override
        public io.jvfio.vmm.migration.DirtyLog dirtyLog() {
            return null;
        }

        @Override
        public String name() {
            return f.name();
        }

        @Override
        public int configSize() {
            return f.configSize();
        }

        @Override
        public int readConfig(int offset, int size) {
            return f.readConfig(offset, size);
        }

        @Override
        public void writeConfig(int offset, int size, int value) {
            f.writeConfig(offset, size, value);
        }

        @Override
        public List<io.jvfio.vmm.pci.PciBar> bars() {
            return f.bars();
        }

        @Override
        public void mapBar(io.jvfio.vmm.pci.PciBar bar, long address) {
            f.mapBar(bar, address);
        }

        @Override
        public void unmapBar(io.jvfio.vmm.pci.PciBar bar) {
            f.unmapBar(bar);
        }

        @Override
        public void reset() {
            f.reset();
        }
    }
}
