package io.jvfio.benchmarks.suite;

import java.util.ArrayList;
import java.util.List;

/** What the suite runs and how its results pair up: every benchmark beside its baseline. */
public final class Catalogue {

    static final String CONFIG = "Config space: a guest's read through the virtualized overlay";
    static final String MMIO = "Trapped MMIO without KVM: bus lookup, device model, back end";
    static final String KVM = "KVM: a guest's BAR access (per access)";
    static final String IRQ_APIC = "Interrupts: device eventfd to the virtual local APIC (no KVM)";
    static final String IRQ_KVM = "Interrupts: device eventfd to a KVM guest's handler";
    static final String IRQ_STORM = "Interrupts under a storm: the poller delivering (the default) against the ring (no KVM)";
    static final String VFIO_USER = "vfio-user: a 4-byte REGION_READ round trip";
    static final String VFIO_USER_BULK = "vfio-user: a 1 MiB REGION_READ / REGION_WRITE (edu's BAR2, a memfd)";
    static final String DOORBELL = "Doorbells: a write through an ioeventfd against a trapped write (no KVM)";
    static final String MEMORY = "Guest memory: GuestMemory against a raw direct ByteBuffer";
    static final String JNA = "System calls: JNA direct mapping against interface mapping";

    /** Each group's plot file, without the .png. */
    static final java.util.Map<String, String> PLOT_FILES = java.util.Map.ofEntries(
            java.util.Map.entry(CONFIG, "config-space"), java.util.Map.entry(MMIO, "mmio-dispatch"),
            java.util.Map.entry(KVM, "kvm-mmio"), java.util.Map.entry(IRQ_APIC, "interrupts-apic"),
            java.util.Map.entry(IRQ_KVM, "interrupts-kvm"), java.util.Map.entry(IRQ_STORM, "interrupts-storm"),
            java.util.Map.entry(VFIO_USER, "vfio-user"), java.util.Map.entry(VFIO_USER_BULK, "vfio-user-bulk"),
            java.util.Map.entry(DOORBELL, "doorbells"), java.util.Map.entry(MEMORY, "guest-memory"),
            java.util.Map.entry(JNA, "jna-calls"));

    /** The benchmark classes the suite runs, as JMH include patterns. */
    public static final List<String> CLASSES = List.of("ConfigSpaceBenchmark", "MmioDispatchBenchmark",
            "KvmMmioBenchmark", "KvmDoorbellBenchmark", "InterruptLatencyBenchmark", "InterruptStormBenchmark",
            "VfioUserBenchmark", "VfioUserBulkBenchmark", "DoorbellBenchmark", "GuestMemoryBenchmark", "JnaCallBenchmark");

    /** The benchmarks of a C baseline, compiled with cc at setup: left out where there is no C compiler. */
    static final List<String> NEEDS_CC = List.of("KvmMmioBenchmark.mmioExitC", "VfioUserBenchmark.regionRead4C",
            "VfioUserBenchmark.rawSocketPingPongC", "VfioUserBenchmark.regionRead4JavaToCServer",
            "VfioUserBenchmark.regionRead4CToCServer", "VfioUserBulkBenchmark.regionRead1MiBC",
            "VfioUserBulkBenchmark.regionWrite1MiBC", "VfioUserBulkBenchmark.rawSocket1MiB",
            "VfioUserBulkBenchmark.regionRead1MiBCToCServer", "VfioUserBulkBenchmark.regionWrite1MiBCToCServer");

    /**
     * The groups whose rows run KVM guests: where the host has no {@code /dev/kvm} they are measured in
     * the nested VM ({@code Suite --kvm-only}), benchmarks and baselines alike.
     */
    static final List<String> KVM_GROUPS = List.of(KVM, IRQ_KVM);

    /**
     * The groups measured in {@link #ROUNDS} rounds: their benchmarks one fork each per round, in turn, so
     * that each ratio is taken within a round and a spell of load on this shared machine (which moved a
     * single run's vfio-user ratios by a third) lands in one round's ratio, not in the report's. Their
     * rows give the median of the rounds' ratios and its range.
     */
    static final List<String> ROUNDS_GROUPS = List.of(VFIO_USER);
    static final int ROUNDS = 5;

    private Catalogue() {
    }

    /** Every benchmark and baseline the rows of these groups compare. */
    static java.util.Set<String> idsOf(List<String> groups) {
        java.util.Set<String> ids = new java.util.TreeSet<>();
        for (Row r : rows()) {
            if (groups.contains(r.group())) {
                ids.add(r.benchmark());
                ids.add(r.baseline());
            }
        }
        return ids;
    }

    /** Whether a benchmark runs a KVM guest (and is left out on a machine without /dev/kvm). */
    static boolean needsKvm(String id) {
        return id.startsWith("KvmMmioBenchmark.") || id.startsWith("KvmDoorbellBenchmark.")
                || id.startsWith("InterruptLatencyBenchmark.kvmGuest");
    }

    /** Whether a benchmark needs a C compiler (and is left out on a machine without one). */
    static boolean needsCc(String id) {
        return NEEDS_CC.contains(id);
    }

    public static List<Row> rows() {
        List<Row> rows = new ArrayList<>();
        rows.add(new Row(CONFIG, "emulated register (BAR0)", "ConfigSpaceBenchmark.emulatedOverlay",
                "a plain emulated config space", "ConfigSpaceBenchmark.emulatedPlain"));
        rows.add(new Row(CONFIG, "passed-through register (status), in-process device",
                "ConfigSpaceBenchmark.passthroughOverlayInProcess", "the back end's own config read",
                "ConfigSpaceBenchmark.passthroughBackendInProcess"));
        rows.add(new Row(CONFIG, "passed-through register (status), over vfio-user",
                "ConfigSpaceBenchmark.passthroughOverlayVfioUser", "the back end's own config read (REGION_READ)",
                "ConfigSpaceBenchmark.passthroughBackendVfioUser"));

        rows.add(new Row(MMIO, "edu register via the bus, in-process device", "MmioDispatchBenchmark.busInProcess",
                "the back end's read", "MmioDispatchBenchmark.backendInProcess"));
        rows.add(new Row(MMIO, "edu register via the bus, over vfio-user", "MmioDispatchBenchmark.busVfioUser",
                "the back end's read (REGION_READ)", "MmioDispatchBenchmark.backendVfioUser"));

        rows.add(new Row(KVM, "trapped read: an MMIO exit through jvfio's vCPU loop", "KvmMmioBenchmark.mmioExitJvfio",
                "the same through a minimal C loop", "KvmMmioBenchmark.mmioExitC"));
        rows.add(new Row(KVM, "directly mapped BAR read (a memory slot, no exit)", "KvmMmioBenchmark.directBarRead",
                "guest RAM read", "KvmMmioBenchmark.ramRead"));
        rows.add(new Row(KVM, "doorbell write through a KVM ioeventfd (edu over vfio-user, no exit to user space)",
                "KvmDoorbellBenchmark.doorbellIoeventfd",
                "the same write trapped: an MMIO exit and a REGION_WRITE round trip", "KvmDoorbellBenchmark.doorbellTrapped"));

        for (String wait : List.of("blocking", "sleeping", "yielding", "busy-spin")) {
            rows.add(new Row(IRQ_APIC, "poller, Disruptor ring (" + wait + "), dispatcher, APIC",
                    "InterruptLatencyBenchmark.ring[wait=" + wait + "]", "raw eventfd wake-up",
                    "InterruptLatencyBenchmark.rawEventfd"));
        }
        rows.add(new Row(IRQ_APIC, "poller delivers (no ring), APIC", "InterruptLatencyBenchmark.ring[wait=poller]",
                "raw eventfd wake-up", "InterruptLatencyBenchmark.rawEventfd"));
        for (String wait : List.of("blocking", "sleeping", "yielding", "busy-spin")) {
            rows.add(new Row(IRQ_KVM, "ring (" + wait + "), KVM_SIGNAL_MSI, guest handler",
                    "InterruptLatencyBenchmark.kvmGuest[path=ring-" + wait + "]", "raw eventfd wake-up",
                    "InterruptLatencyBenchmark.rawEventfd"));
        }
        rows.add(new Row(IRQ_KVM, "poller delivers (no ring), KVM_SIGNAL_MSI, guest handler",
                "InterruptLatencyBenchmark.kvmGuest[path=poller]", "raw eventfd wake-up",
                "InterruptLatencyBenchmark.rawEventfd"));
        rows.add(new Row(IRQ_KVM, "irqfd bypass (the kernel delivers), guest handler",
                "InterruptLatencyBenchmark.kvmGuest[path=irqfd]", "raw eventfd wake-up",
                "InterruptLatencyBenchmark.rawEventfd"));
        rows.add(new Row(IRQ_KVM, "KVM_SIGNAL_MSI by the caller, guest handler (KVM's own floor)",
                "InterruptLatencyBenchmark.kvmGuest[path=signal-msi]", "raw eventfd wake-up",
                "InterruptLatencyBenchmark.rawEventfd"));

        for (int vectors : new int[] {1, 8, 64}) {
            rows.add(new Row(IRQ_STORM, "a burst over " + vectors + " vector" + (vectors == 1 ? "" : "s")
                    + " until all reached the APIC, the poller delivering",
                    "InterruptStormBenchmark.burst[delivery=poller,vectors=" + vectors + "]", "the ring (blocking)",
                    "InterruptStormBenchmark.burst[delivery=ring,vectors=" + vectors + "]"));
        }
        for (int vectors : new int[] {1, 8, 64}) {
            rows.add(new Row(IRQ_STORM, "a flood over " + vectors + " vector" + (vectors == 1 ? "" : "s")
                    + ": the producer's time per signal, the poller delivering",
                    "InterruptStormBenchmark.flood[delivery=poller,vectors=" + vectors + "]", "the ring (blocking)",
                    "InterruptStormBenchmark.flood[delivery=ring,vectors=" + vectors + "]"));
        }

        // The C server stands in for libvfio-user's (not packaged in Debian, not reachable here): it is not libvfio-user.
        rows.add(new Row(VFIO_USER, "Java client to jvfio's server, edu's ID register", "VfioUserBenchmark.regionRead4",
                "raw UNIX-socket ping-pong in C, same sizes", "VfioUserBenchmark.rawSocketPingPongC"));
        rows.add(new Row(VFIO_USER, "Java client to jvfio's server", "VfioUserBenchmark.regionRead4",
                "a minimal C client to the same server", "VfioUserBenchmark.regionRead4C"));
        rows.add(new Row(VFIO_USER, "Java client to the C server (a stand-in for libvfio-user)",
                "VfioUserBenchmark.regionRead4JavaToCServer", "the C client to the same C server",
                "VfioUserBenchmark.regionRead4CToCServer"));
        rows.add(new Row(VFIO_USER, "C client to jvfio's server", "VfioUserBenchmark.regionRead4C",
                "the C client to a minimal C server (a stand-in for libvfio-user, not libvfio-user)",
                "VfioUserBenchmark.regionRead4CToCServer"));
        rows.add(new Row(VFIO_USER, "C client to jvfio's server", "VfioUserBenchmark.regionRead4C",
                "raw ping-pong in C, same sizes", "VfioUserBenchmark.rawSocketPingPongC"));
        rows.add(new Row(VFIO_USER, "C client to the C server", "VfioUserBenchmark.regionRead4CToCServer",
                "raw ping-pong in C, same sizes", "VfioUserBenchmark.rawSocketPingPongC"));
        rows.add(new Row(VFIO_USER, "raw ping-pong through JNA", "VfioUserBenchmark.rawSocketPingPong",
                "the same in C", "VfioUserBenchmark.rawSocketPingPongC"));
        rows.add(new Row(VFIO_USER, "client to server, edu's liveness register, posted write (No_reply)",
                "VfioUserBenchmark.regionWrite4Posted", "the same write waiting for its reply (x-no-posted-writes=on)",
                "VfioUserBenchmark.regionWrite4Waited"));

        for (String op : List.of("Read", "Write")) {
            String name = "REGION_" + op.toUpperCase(java.util.Locale.ROOT);
            rows.add(new Row(VFIO_USER_BULK, name + ", jvfio's client to jvfio's server",
                    "VfioUserBulkBenchmark.region" + op + "1MiBJava", "a minimal C client to the same server",
                    "VfioUserBulkBenchmark.region" + op + "1MiBC"));
            rows.add(new Row(VFIO_USER_BULK, name + ", C client to jvfio's server",
                    "VfioUserBulkBenchmark.region" + op + "1MiBC", "1 MiB through a raw UNIX socket, 32 bytes back (C)",
                    "VfioUserBulkBenchmark.rawSocket1MiB"));
            rows.add(new Row(VFIO_USER_BULK, name + ", C client to jvfio's server",
                    "VfioUserBulkBenchmark.region" + op + "1MiBC",
                    "the C client to a minimal C server (a stand-in for libvfio-user, not libvfio-user)",
                    "VfioUserBulkBenchmark.region" + op + "1MiBCToCServer"));
        }

        rows.add(new Row(DOORBELL, "edu's doorbell: the writer's cost (the ioeventfd's eventfd write)",
                "DoorbellBenchmark.doorbellWrite", "the trapped write's REGION_WRITE round trip",
                "DoorbellBenchmark.trappedWriteRoundTrip"));
        rows.add(new Row(DOORBELL, "edu's doorbell until the device acted (its MSI-X vector read)",
                "DoorbellBenchmark.doorbellToDevice", "the trapped write until the device acted",
                "DoorbellBenchmark.trappedWriteToDevice"));

        for (String[] m : new String[][] {
                {"u64 read, sequential", "sequentialReadU64"}, {"u64 write, sequential", "sequentialWriteU64"},
                {"u64 read, random", "randomReadU64"}, {"u64 write, random", "randomWriteU64"},
                {"4 KiB copy to a byte[]", "copy4kToArray"}, {"4 KiB copy from a byte[]", "copy4kFromArray"},
                {"4 KiB copy to a direct ByteBuffer", "copy4kToBuffer"}}) {
            rows.add(new Row(MEMORY, m[0], "GuestMemoryBenchmark." + m[1] + "Guest", "raw ByteBuffer",
                    "GuestMemoryBenchmark." + m[1] + "Raw"));
        }

        rows.add(new Row(JNA, "sysconf(_SC_PAGESIZE): the binding alone", "JnaCallBenchmark.sysconfDirect",
                "interface mapping", "JnaCallBenchmark.sysconfInterface"));
        rows.add(new Row(JNA, "getpid(): one system call", "JnaCallBenchmark.getpidDirect", "interface mapping",
                "JnaCallBenchmark.getpidInterface"));
        return rows;
    }
}
