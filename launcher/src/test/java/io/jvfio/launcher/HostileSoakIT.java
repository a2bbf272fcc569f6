package io.jvfio.launcher;

import io.jvfio.vfio.user.hostile.Attack;
import io.jvfio.vfio.user.hostile.CleanClient;
import io.jvfio.vfio.user.hostile.Outcome;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The soak of issue 13: {@code jvfio --serve edu} (the shaded jar, in its own process) under the
 * hostile clients of every attack class, several at once for {@code -Djvfio.soak.seconds} (60 in
 * the build; {@code scripts/soak-hostile} runs 600), with a clean client every few seconds that
 * must be served. The server's RSS, open fds and threads are sampled from /proc throughout. At the
 * end the server must be alive, have served every clean client, hold no more fds than when idle,
 * have dropped every client that held it idle before the attacker gave up, and have stayed under
 * the RSS bound ({@code -Djvfio.soak.max-rss-mib}); the figures are printed
 * and written to target/soak/figures.txt.
 */
class HostileSoakIT {

    private static final long SECONDS = Long.getLong("jvfio.soak.seconds", 60);
    private static final int ATTACKERS = Integer.getInteger("jvfio.soak.attackers", 3);
    /**
     * Outside the Java heap (code, metaspace, thread stacks, Netty's direct arenas, glibc's malloc
     * arenas, mappings of the clients' memfds) the server may hold at most this much more than when
     * idle: what the attacks can make it hold at once is bounded (one client at a time, its output
     * at x-max-queued-output, its mappings at the per-client bound), so more is a leak.
     */
    private static final long MAX_NON_HEAP_GROWTH_MIB = Long.getLong("jvfio.soak.max-non-heap-growth-mib", 128);
    /**
     * Over the second half of the run, outside the Java heap, at most this much growth: that half
     * repeats the attacks of the first (each class is reached in the first minute), so whatever
     * they take for good would grow it again, while what was grown once (JIT code, the high-water
     * mark of malloc's arenas and of Netty's pools) stays flat.
     */
    private static final long MAX_LATE_GROWTH_MIB = Long.getLong("jvfio.soak.max-late-growth-mib", 16);
    /**
     * RSS as a whole: the Java heap's share is bounded by the -Xmx the jvfio script gives the JVM
     * ({@link ServerProcess#MAX_HEAP_MIB}); G1 fills the heap it committed with garbage before it
     * collects (its young generation grows to 60% of the heap when collections are cheap), so that
     * share grows with the allocations of the run up to that bound without anything leaking. The rest
     * is the idle figure (about 70 MiB) and its growth.
     */
    private static final long MAX_RSS_MIB = Long.getLong("jvfio.soak.max-rss-mib",
            ServerProcess.MAX_HEAP_MIB + 128 + MAX_NON_HEAP_GROWTH_MIB);
    private static final long CLEAN_EVERY_MILLIS = 3000;
    /** How long a client may wait for the server (it serves one at a time, and attackers queue). */
    private static final long CONNECT_MILLIS = 240_000;
    /**
     * How long an attacker that leaves its connection idle waits to be dropped, from its connect: the
     * server's default timeouts are 10 s from its accept, and the attacker may first wait in the
     * backlog behind the others (at most the other attackers and a clean client, each held at most
     * about that long).
     */
    private static final long HOLD_MILLIS = 90_000;

    @TempDir
    Path dir;

    @Test
    void theServerSurvivesMixedHostileClients() throws Exception {
        Path out = Path.of("target/soak").toAbsolutePath();
        Files.createDirectories(out);
        Path socket = dir.resolve("edu.sock");
        try (ServerProcess server = ServerProcess.start(out.resolve("server.log"), "--serve", "edu,socket=" + socket)) {
            server.awaitOutput("jvfio: serving edu", 60);
            long[] heap = server.heapRange(); // before the first fd count: jcmd leaves the attach listener's socket
            long startFds = server.fds();
            CleanClient.run(socket, CONNECT_MILLIS); // the server's lasting allocations, made at its first client
            awaitFdsAtMost(server, startFds, 10);
            long idleFds = server.fds();
            long idleRss = server.status("VmRSS");
            long idleThreads = server.status("Threads");
            ServerProcess.Resident idleResident = server.resident(heap);

            Samples samples = new Samples(heap);
            Map<Attack, Map<Outcome, AtomicLong>> outcomes = new EnumMap<>(Attack.class);
            for (Attack a : Attack.values()) {
                Map<Outcome, AtomicLong> m = new EnumMap<>(Outcome.class);
                for (Outcome o : Outcome.values()) {
                    m.put(o, new AtomicLong());
                }
                outcomes.put(a, m);
            }
            Map<String, String> failures = new ConcurrentHashMap<>();
            AtomicLong cleanServed = new AtomicLong();
            AtomicLong cleanStarted = new AtomicLong();
            AtomicLong cleanMaxWait = new AtomicLong();
            long end = System.nanoTime() + SECONDS * 1_000_000_000L;

            ScheduledExecutorService timers = Executors.newScheduledThreadPool(2);
            timers.scheduleAtFixedRate(() -> samples.take(server), 0, 1, TimeUnit.SECONDS);
            timers.scheduleWithFixedDelay(() -> {
                if (System.nanoTime() > end) {
                    return;
                }
                long n = cleanStarted.incrementAndGet();
                try {
                    CleanClient.Served s = CleanClient.run(socket, CONNECT_MILLIS);
                    cleanServed.incrementAndGet();
                    cleanMaxWait.accumulateAndGet(s.waitMillis(), Math::max);
                } catch (Throwable e) {
                    failures.put("clean client " + n, String.valueOf(e));
                }
            }, CLEAN_EVERY_MILLIS, CLEAN_EVERY_MILLIS, TimeUnit.MILLISECONDS);

            List<Thread> attackers = new ArrayList<>();
            for (int t = 0; t < ATTACKERS; t++) {
                int seed = t;
                Thread th = new Thread(() -> {
                    Random rnd = new Random(seed);
                    Attack[] all = Attack.values();
                    // Every class in turn, each thread starting at another part of the list: a short
                    // run reaches every class even where the ones that hold a connection are slow.
                    for (int i = seed * all.length / ATTACKERS; System.nanoTime() < end; i++) {
                        Attack a = all[i % all.length];
                        try {
                            outcomes.get(a).get(a.run(socket, rnd, CONNECT_MILLIS, HOLD_MILLIS))
                                    .incrementAndGet();
                        } catch (Throwable e) {
                            failures.merge(a.name(), String.valueOf(e), (x, y) -> x);
                        }
                    }
                }, "attacker-" + t);
                th.start();
                attackers.add(th);
            }
            for (Thread th : attackers) {
                th.join(CONNECT_MILLIS + HOLD_MILLIS * 2 + SECONDS * 1000);
                assertFalse(th.isAlive(), th.getName() + " did not finish");
            }
            timers.shutdown();
            assertTrue(timers.awaitTermination(CONNECT_MILLIS, TimeUnit.MILLISECONDS), "the last clean client ended");
            assertTrue(server.process.isAlive(), "the server is alive after the soak; its output:\n" + tail(server));
            CleanClient.run(socket, CONNECT_MILLIS);
            cleanServed.incrementAndGet();
            cleanStarted.incrementAndGet();
            awaitFdsAtMost(server, idleFds, 60);
            samples.take(server);
            samples.trend(server);
            ServerProcess.Resident endResident = server.resident(heap);
            long endRss = server.status("VmRSS");
            long endThreads = server.status("Threads");
            long endFds = server.fds();
            String liveHeap = heapAfterFullGc(server);
            // What of the RSS outside the heap is glibc's free memory, kept in its arenas for reuse.
            String trim = server.jcmd("System.trim_native_heap").lines().filter(l -> l.contains("RSS"))
                    .findFirst().orElse("?").strip();

            StringBuilder f = new StringBuilder();
            f.append(String.format("hostile soak of jvfio --serve edu (pid %d): %d s, %d attackers at once%n",
                    server.pid(), SECONDS, ATTACKERS));
            f.append("attacks by class (outcomes):\n");
            long attacks = 0;
            for (var e : outcomes.entrySet()) {
                StringBuilder o = new StringBuilder();
                long n = 0;
                for (var c : e.getValue().entrySet()) {
                    if (c.getValue().get() > 0) {
                        o.append(o.length() > 0 ? ", " : "").append(c.getKey().name().toLowerCase()).append(' ')
                                .append(c.getValue().get());
                        n += c.getValue().get();
                    }
                }
                attacks += n;
                f.append(String.format("  %-24s %5d  %s%n", e.getKey().name().toLowerCase(), n, o));
            }
            f.append(String.format("  %-24s %5d%n", "all", attacks));
            f.append(String.format("clean clients: %d served of %d (longest wait to be answered %d ms)%n",
                    cleanServed.get(), cleanStarted.get(), cleanMaxWait.get()));
            f.append(String.format("RSS: idle %d MiB, max %d MiB, end %d MiB (bound %d MiB: heap %d + %d + %d)%n",
                    idleRss >> 10, samples.maxRss >> 10, endRss >> 10, MAX_RSS_MIB, ServerProcess.MAX_HEAP_MIB,
                    MAX_RSS_MIB - ServerProcess.MAX_HEAP_MIB - MAX_NON_HEAP_GROWTH_MIB, MAX_NON_HEAP_GROWTH_MIB));
            f.append(String.format("RSS over the run (MiB, every %d s): %s%n", samples.every, samples.rssTrend));
            f.append(String.format("  of which in the Java heap (bound %d MiB): %s%n", ServerProcess.MAX_HEAP_MIB,
                    samples.heapTrend));
            f.append(String.format("  of which outside it: %s (idle %d, max %d, end %d MiB; growth bound %d MiB,"
                    + " over the second half %d MiB)%n", samples.otherTrend, idleResident.otherKiB() >> 10,
                    samples.maxOther >> 10, endResident.otherKiB() >> 10, MAX_NON_HEAP_GROWTH_MIB, MAX_LATE_GROWTH_MIB));
            f.append("Java heap in use after a full GC at the end: ").append(liveHeap).append('\n');
            f.append("malloc's free memory given back at the end (jcmd System.trim_native_heap): ").append(trim)
                    .append('\n');
            f.append(String.format("fds: idle %d, max %d, end %d%n", idleFds, samples.maxFds, endFds));
            f.append(String.format("threads: idle %d, max %d, end %d%n", idleThreads, samples.maxThreads, endThreads));
            failures.forEach((k, v) -> f.append("FAILED ").append(k).append(": ").append(v).append('\n'));
            System.out.print(f);
            Files.writeString(out.resolve("figures.txt"), f);

            assertTrue(failures.isEmpty(), "failures during the soak:\n" + f);
            // An idle or stalled connection is dropped at the server's timeouts (10 s by default), well
            // before the attacker's own bound: one held to that bound kept every other client out.
            outcomes.forEach((a, o) -> assertEquals(0, o.get(Outcome.HELD_TO_THE_END).get(),
                    a + ": the server never dropped the client holding it:\n" + f));
            assertEquals(cleanStarted.get(), cleanServed.get(), "every clean client served");
            assertTrue(endFds <= idleFds, "fds back to the idle figure:\n" + f);
            assertTrue(samples.maxRss >> 10 <= MAX_RSS_MIB, "RSS within its bound:\n" + f);
            assertTrue((samples.maxOther - idleResident.otherKiB()) >> 10 <= MAX_NON_HEAP_GROWTH_MIB,
                    "RSS outside the Java heap within its bound:\n" + f);
            assertTrue((endResident.otherKiB() - samples.halfwayOther) >> 10 <= MAX_LATE_GROWTH_MIB,
                    "RSS outside the Java heap flat over the second half of the run (" + (samples.halfwayOther >> 10)
                            + " MiB halfway):\n" + f);

            server.signal("TERM");
            assertEquals(143, server.awaitExit(60), "128 + SIGTERM after the soak");
            assertFalse(Files.exists(socket), "the socket file is removed");
        }
    }

    private static void awaitFdsAtMost(ServerProcess server, long fds, long seconds) {
        ServerProcess.await("the server's fds back to " + fds, () -> {
            try {
                return server.fds() <= fds;
            } catch (IOException e) {
                throw new AssertionError("the server's /proc entry is gone: " + e);
            }
        }, seconds);
    }

    private static String tail(ServerProcess server) {
        String o = server.output();
        return o.length() > 4000 ? o.substring(o.length() - 4000) : o;
    }

    /**
     * The server's heap in use after a full collection (jcmd GC.run, then GC.heap_info): what its
     * RSS holds that is live, as against heap the JVM has grown and keeps.
     */
    private static String heapAfterFullGc(ServerProcess server) throws IOException, InterruptedException {
        server.jcmd("GC.run");
        String text = server.jcmd("GC.heap_info");
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("total (\\d+)K, used (\\d+)K").matcher(text);
        return m.find() ? (Long.parseLong(m.group(2)) >> 10) + " MiB (of " + (Long.parseLong(m.group(1)) >> 10)
                + " MiB committed)" : "? (jcmd said: " + text.strip() + ")";
    }

    /**
     * The highest figures /proc showed; RSS, and its shares in and outside the Java heap, at every
     * tenth of the run; the share outside the heap halfway through.
     */
    private static final class Samples {
        final long every = Math.max(1, SECONDS / 10);
        final long[] heap;
        final StringBuilder rssTrend = new StringBuilder();
        final StringBuilder heapTrend = new StringBuilder();
        final StringBuilder otherTrend = new StringBuilder();
        long taken;
        long halfwayOther;
        volatile long maxRss;
        volatile long maxFds;
        volatile long maxThreads;
        volatile long maxOther;

        Samples(long[] heap) {
            this.heap = heap;
        }

        synchronized void take(ServerProcess server) {
            try {
                long rss = server.status("VmRSS");
                if (taken++ % every == 0) {
                    trend(server);
                }
                maxRss = Math.max(maxRss, rss);
                maxThreads = Math.max(maxThreads, server.status("Threads"));
                maxFds = Math.max(maxFds, server.fds());
            } catch (IOException e) {
                // the process has exited: the end of the soak says so
            }
        }

        /** One point of the trends (smaps is read only here: it is long to read for every sample). */
        synchronized void trend(ServerProcess server) throws IOException {
            ServerProcess.Resident r = server.resident(heap);
            long rss = server.status("VmRSS");
            for (var e : List.of(Map.entry(rssTrend, rss), Map.entry(heapTrend, r.heapKiB()),
                    Map.entry(otherTrend, r.otherKiB()))) {
                e.getKey().append(e.getKey().length() > 0 ? " " : "").append(e.getValue() >> 10);
            }
            maxOther = Math.max(maxOther, r.otherKiB());
            if (taken <= SECONDS / 2 + 1) {
                halfwayOther = r.otherKiB();
            }
        }
    }
}
