package io.jvfio.launcher.driver;

import io.jvfio.vmm.bus.Bus;
import io.jvfio.vmm.bus.BusDevice;
import io.jvfio.kvm.KvmVcpu;
import io.jvfio.kvm.KvmVm;
import io.jvfio.kvm.Vcpus;
import io.jvfio.kvm.LongModeProgram;
import io.jvfio.kvm.X86Register;
import io.jvfio.memory.GuestRam;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.pci.PciDevFn;
import org.HdrHistogram.Histogram;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * Runs the built-in guest driver ({@code src/main/guest/driver.s}, assembled at build time) on KVM
 * vCPUs, a thread each (vCPU 0 runs the steps; the others wait for its interrupts): loads it into guest RAM with long-mode tables and its mailbox, answers its ports (a step's
 * record is ready; which BAR addresses trap and which are mapped; done; a CPU exception), and turns
 * what it measured with RDTSC into latencies. vCPU 0's exits are snapshotted at each report, so a
 * timed loop's MMIO exits are known exactly.
 */
public final class GuestDriver {

    public static final long LOAD = 0x10000;
    /** Where the application processors (vCPU 1 and up) start: the driver's second entry. */
    static final long AP_ENTRY = LOAD + 8;
    public static final long STACK = 0x80000;
    /**
     * The application processors' stacks, below vCPU 0's 32 KiB: AP i's at AP_STACKS - (i - 1) *
     * AP_STACK_SIZE. They only take interrupts (a frame and the handler's few pushes), so 255 of
     * them (the most -smp gives) fit above the driver's code.
     */
    static final long AP_STACKS = STACK - 0x8000;
    static final long AP_STACK_SIZE = 0x200;
    static final long MAILBOX = 0x9000;
    static final long SAMPLES_TRAPPED = 0x200000;
    static final long SAMPLES_DIRECT = 0x280000;
    static final long SAMPLES_IRQ = 0x300000;
    static final int PORT_REPORT = 0x500;
    static final int PORT_QUERY = 0x501;
    static final int PORT_DONE = 0x502;
    static final int PORT_FAULT = 0x503;
    /** A hotplug event of the guest's service (driver.s's HP_*), its details in the mailbox. */
    static final int PORT_HOTPLUG = 0x504;
    static final int HP_SERVING = 1;
    static final int HP_BEGIN = 2;
    static final int HP_END = 3;
    static final int HP_NOT_UP = 4;
    static final int HP_REMOVED = 5;
    static final int HP_EMPTY = 6;
    /**
     * In: what the migration step's soak reads after each write, 0 while this VMM runs the guest as a
     * migration's source, 1 once it runs it as the destination ({@link #resumeMigrated}).
     */
    static final int PORT_MIGRATED = 0x505;
    /** The driver's ports: PORT_REPORT to PORT_MIGRATED. */
    static final int PORTS = PORT_MIGRATED - PORT_REPORT + 1;
    /** The vector of the VMM's "a migration starts" MSI (driver.s's MIGRATE_VECTOR), to APIC 0. */
    static final int MIGRATE_VECTOR = 0x71;
    static final long LAPIC_MSI = 0xfee0_0000L;
    /** How long the guest may take: its kernel-mode code is emulated, about 1 us an instruction here. */
    public static final long TIMEOUT_SECONDS = 300;

    /** How often the wait for the guest looks whether the device went away. */
    static final long GONE_POLL_MILLIS = 100;

    // mailbox offsets (driver.s)
    static final int MB_WINDOW = 0x00;
    static final int MB_LOOPS = 0x08;
    static final int MB_IRQ_LOOPS = 0x10;
    static final int MB_TARGET = 0x18;
    static final int MB_TRAPPED = 0x20;
    static final int MB_DIRECT = 0x28;
    static final int MB_BAR_ADDR = 0x60;
    static final int MB_BAR_SIZE = 0x90;
    static final int MB_RECORDS = 0x100;
    static final int MB_IO_WINDOW = 0xe0;
    static final int MB_BAR_IO = 0xe8;
    static final int MB_TRAPPED_IO = 0xf0;
    static final int MB_IRQ_COUNT = 0x30;
    static final int MB_CPUS = 0x460;
    static final int MB_WAIT_TSC = 0x470;
    static final int MB_SETTLE_TSC = 0x478;
    static final int MB_IRQ_COUNT_CPU = 0x800;
    static final int MB_IRQ_SNAP = 0x1800;
    static final int MB_BAR_WIDE = 0x4f8;
    static final int MB_HOT = 0x488;
    static final int MB_HP_COUNT = 0x4a0;
    static final int MB_HP_PORT = 0x4b8;
    static final int MB_HP_BDF = 0x4c0;
    static final int MB_HP_IDS = 0x4c8;
    static final int MB_HP_HOW = 0x4d0;
    static final int MB_HP_WHY = 0x4d8;
    static final int MB_HP_DONE = 0x4e0;
    static final int MB_HP_FITS = 0x4e8;
    static final int MB_HP_PORTS = 0x2000;
    static final int MB_MIG_REQ = 0x600;
    static final int MB_MIG_ITER = 0x610;
    /**
     * Where in guest RAM both drivers keep the migration step's progress: the soak's last iteration k
     * (page k mod {@link #MIGRATION_PAGES} of {@link #MIGRATION_SOAK} holds k + 1).
     */
    public static final long MIGRATION_PROGRESS = MAILBOX + MB_MIG_ITER;
    /** The migration step's soak: {@link #MIGRATION_PAGES} pages, the first qword of each written in turn. */
    public static final long MIGRATION_SOAK = 0x400000;
    public static final int MIGRATION_PAGES = 1024;
    /** What the migration step leaves in edu: liveness (read back inverted), the factorial's n. */
    static final int MIGRATION_LIVENESS = 0x13572468;
    static final int MIGRATION_FACTORIAL = 12;
    static final long MIGRATION_FACTORIAL_OF = 479001600L;
    /** Where its pattern is DMAed from into edu's buffer (at MIGRATION_BUFFER), and back into after. */
    static final long MIGRATION_SRC = 0x102000;
    static final long MIGRATION_DST = 0x103000;
    static final long MIGRATION_BUFFER = 0x40400;
    static final int HP_ENTRY = 128;
    static final int HP_DEVFN = 0;
    static final int HP_SLOTCAP = 16;
    static final int HP_SECONDARY = 24;
    static final int HP_MEM_BASE = 32;
    static final int HP_MEM_LIMIT = 40;
    static final int HP_IO_BASE = 48;
    static final int HP_IO_LIMIT = 56;

    private final DriverTarget t;
    private final Vcpus vcpus;
    /** The bootstrap processor: it runs the steps. */
    private final KvmVcpu vcpu;
    /** The VM, for the migration request's MSI. */
    private final KvmVm kvm;
    /** This VMM runs the guest as a migration's destination: PORT_MIGRATED reads 1. */
    private volatile boolean migrated;
    /** The guest was asked for its migration step (once: it runs until the machine has migrated). */
    private volatile boolean migrationRequested;
    /** The report of the steps going on: the start's, then each hot-added device's. */
    private DriverReport report = new DriverReport();
    /** Where the guest's hotplug service's words go; null until {@link #serveHotplug}. */
    private volatile Consumer<String> hotplugOut;
    /** The driver's ports, registered until {@link #close} (the guest's hotplug service goes on using them). */
    private Bus.Registration ports;
    private long mmioAtLastReport;
    private long ioAtLastReport;
    /** What the driver asked at PORT_QUERY: where its timed loops read. */
    private volatile DriverTarget.LoopTargets targets;
    private volatile String fault;

    public GuestDriver(DriverTarget target, Vcpus vcpus, KvmVm kvm) {
        this.t = target;
        this.vcpus = vcpus;
        this.vcpu = vcpus.get(0);
        this.kvm = kvm;
    }

    /** The assembled guest program. */
    static byte[] program() {
        try (InputStream in = GuestDriver.class.getResourceAsStream("/io/jvfio/launcher/guest/driver.bin")) {
            if (in == null) {
                throw new IllegalStateException("the guest driver is missing from the jar (io/jvfio/launcher/guest/"
                        + "driver.bin, assembled from src/main/guest/driver.s by the build)");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private long mb(int offset) {
        return t.memory().ram().readU64(MAILBOX + offset);
    }

    /** Loads the program, runs the vCPU until the program is done (or faults, or times out), and reports. */
    public DriverReport run() throws InterruptedException {
        LongModeProgram program = LongModeProgram.withApEntry(program(), LOAD, STACK, AP_ENTRY, AP_STACKS,
                AP_STACK_SIZE);
        GuestRam ram = t.memory().ram();
        program.start(ram.slice(0, program.extent()), vcpus);
        ram.writeU64(MAILBOX + MB_WINDOW, DriverTarget.MMIO_WINDOW);
        ram.writeU64(MAILBOX + MB_IO_WINDOW, DriverTarget.IO_WINDOW);
        ram.writeU64(MAILBOX + MB_LOOPS, DriverTarget.LOOPS);
        ram.writeU64(MAILBOX + MB_IRQ_LOOPS, DriverTarget.INTERRUPTS);
        ram.writeU64(MAILBOX + MB_CPUS, vcpus.size());
        // The guest bounds its polls by the TSC, as the host-side driver bounds its own by the clock.
        long khz = tscKhz();
        ram.writeU64(MAILBOX + MB_WAIT_TSC, DriverTarget.WAIT_NANOS / 1000 * khz / 1000);
        ram.writeU64(MAILBOX + MB_SETTLE_TSC, DriverTarget.SETTLE_NANOS / 1000 * khz / 1000);
        PciDevFn target = t.device();
        ram.writeU64(MAILBOX + MB_TARGET, target == null ? 0xffff : target.devfn());

        ports = t.space().pio().add("guest driver ports", PORT_REPORT, PORTS, new Ports());
        vcpus.start(t.space());
        return awaitDone();
    }

    /**
     * On the source, as a migration starts (the guest's vCPUs running its service loop, after
     * {@link #run}): asks the guest for its migration step, a word in the mailbox and an MSI on
     * {@link #MIGRATE_VECTOR} to APIC 0 that ends its hlt. The guest then leaves state in the device and
     * keeps writing RAM, each write followed by a read of PORT_MIGRATED, which this VMM answers 0. Asked
     * again (a migration tried again after one that failed), the step under way goes on.
     */
    public void migrationStarting() {
        if (migrationRequested) {
            return; // a migration tried again after one that failed: the guest's step goes on (its soak)
        }
        migrationRequested = true;
        t.memory().ram().writeU64(MAILBOX + MB_MIG_REQ, 1);
        kvm.signalMsi(LAPIC_MSI, MIGRATE_VECTOR);
    }

    /**
     * On a migration's destination (or the source again, in a test), with guest RAM and the vCPUs'
     * state loaded and the vCPUs stopped: registers the driver's ports, runs the vCPUs from where they
     * were (no program is loaded), answers PORT_MIGRATED with 1, and waits, as {@link #run} does, for
     * the guest's PORT_DONE after its migration step's checks and steps 3 to 12 again. The report holds
     * {@link DriverStep#MIGRATION} and the steps after it.
     */
    public DriverReport resumeMigrated() throws InterruptedException {
        report = DriverReport.afterMigration();
        migrated = true;
        if (ports == null) {
            ports = t.space().pio().add("guest driver ports", PORT_REPORT, PORTS, new Ports());
        }
        mmioAtLastReport = vcpu.exits().mmio();
        ioAtLastReport = vcpu.exits().io();
        vcpus.start(t.space());
        return awaitDone();
    }

    /** Waits for the guest's PORT_DONE (or a fault, a timeout, a device gone) and reports. */
    private DriverReport awaitDone() throws InterruptedException {
        try {
            List<KvmVcpu.Stop> stops = awaitGuest();
            if (fault != null) {
                report.failure(fault);
            } else {
                for (int i = 0; i < stops.size(); i++) {
                    if (stops.get(i) != KvmVcpu.Stop.REQUESTED) {
                        KvmVcpu v = vcpus.get(i);
                        report.failure("the guest stopped: " + stops.get(i) + (vcpus.size() > 1 ? " on vCPU " + v.id()
                                : "") + " at rip 0x" + Long.toHexString(v.register(X86Register.RIP)));
                        break;
                    }
                }
            }
        } catch (TimeoutException e) {
            vcpus.stopAll();
            report.failure("the guest driver did not finish within " + TIMEOUT_SECONDS + " s (rip 0x"
                    + Long.toHexString(vcpu.register(X86Register.RIP)) + ")");
        } catch (ExecutionException e) {
            // The guest touched a memory slot whose host page is gone (the file behind a mapped BAR
            // area shrank): KVM_RUN fails with EFAULT, or the vCPU thread takes the SIGBUS itself
            // (what this machine's KVM does), which HotSpot reports as an InternalError.
            if (e.getCause() instanceof SyscallException se && se.is(Errno.EFAULT)) {
                throw t.mappedMemoryFault("the guest's access faulted (KVM_RUN: EFAULT)");
            }
            if (DriverTarget.isMappedMemoryFault(e.getCause())) {
                throw t.mappedMemoryFault("the guest's access faulted (SIGBUS in KVM_RUN)");
            }
            t.checkGone();
            report.failure("the vCPU failed: " + e.getCause().getMessage());
        } finally {
            if (vcpus.running()) { // after a timeout, a failure or a device gone: the run is over
                vcpus.stopAll();
                try {
                    vcpus.awaitAll(Duration.ofSeconds(10));
                } catch (TimeoutException | RuntimeException | Error e) {
                    // Reported above (a failure is thrown again by every await); here only the threads end.
                }
            }
            if (report.failure() != null || fault != null) {
                close(); // the guest will not go on to its hotplug service
            }
        }
        report.exits(exitsByReason());
        if (vcpus.size() > 1) {
            Map<String, Map<String, Long>> per = new LinkedHashMap<>();
            for (KvmVcpu v : vcpus.vcpus()) {
                per.put("vcpu" + v.id(), v.exits().byReason());
            }
            report.exitsPerVcpu(per);
        }
        latencies();
        return report;
    }

    /**
     * After {@link #run}: the words of the guest's hotplug service (driver.s goes on to it when its vCPUs
     * run again, and serves the machine's hot-plug capable root ports) go to {@code out}, a hot-added
     * device's steps as a block of their own.
     */
    public void serveHotplug(Consumer<String> out) {
        hotplugOut = out;
    }

    /** The driver's ports go (the vCPUs no longer run the program). */
    public void close() {
        Bus.Registration r = ports;
        if (r != null) {
            ports = null;
            t.space().pio().remove(r);
        }
    }

    /** Every vCPU's exits per reason, summed. */
    private Map<String, Long> exitsByReason() {
        Map<String, Long> sum = new LinkedHashMap<>();
        for (KvmVcpu v : vcpus.vcpus()) {
            v.exits().byReason().forEach((reason, n) -> sum.merge(reason, n, Long::sum));
        }
        return sum;
    }

    /**
     * Waits for the vCPUs to finish, at most TIMEOUT_SECONDS; a device that goes away meanwhile stops
     * them and ends the run (the guest would only read all-ones from it until the timeout). A vCPU's
     * failure comes as the cause of an ExecutionException.
     */
    private List<KvmVcpu.Stop> awaitGuest() throws InterruptedException, ExecutionException, TimeoutException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_SECONDS);
        while (true) {
            try {
                return vcpus.awaitAll(Duration.ofMillis(Math.min(GONE_POLL_MILLIS, Math.max(1,
                        TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())))));
            } catch (RuntimeException | Error e) {
                throw new ExecutionException(e);
            } catch (TimeoutException e) {
                if (t.watch().gone() != null) {
                    vcpus.stopAll();
                    t.checkGone();
                }
                if (System.nanoTime() >= deadline) {
                    throw e;
                }
            }
        }
    }

    /** vCPU 0's TSC rate in kHz; where KVM gives none, 1 GHz (the guest's bounds then off by that ratio, still finite). */
    private long tscKhz() {
        long khz = vcpu.tscKhz();
        return khz > 0 ? khz : 1_000_000;
    }

    private void latencies() {
        long khz = vcpu.tscKhz();
        boolean port = targets != null && targets.trappedIsPort();
        record(port ? "trapped port read (guest)" : "trapped MMIO read (guest)", DriverStep.TRAPPED, SAMPLES_TRAPPED,
                khz);
        record("directly mapped read (guest)", DriverStep.DIRECT, SAMPLES_DIRECT, khz);
        record("interrupt (raise -> handler)", DriverStep.STORM, SAMPLES_IRQ, khz);
    }

    /** A step's RDTSC samples, in nanoseconds, into a histogram; the count is in its record. */
    private void record(String what, DriverStep step, long samples, long khz) {
        long status = mb(MB_RECORDS + step.number() * 32);
        if (status != 1 || khz <= 0) {
            return;
        }
        long n = step == DriverStep.STORM ? mb(MB_RECORDS + step.number() * 32 + 24) : DriverTarget.LOOPS;
        Histogram h = new Histogram(10_000_000_000L, 3);
        GuestRam ram = t.memory().ram();
        for (long i = 0; i < n; i++) {
            long ticks = ram.readU64(samples + 8 * i);
            h.recordValue(Math.max(0, Math.min(ticks * 1_000_000L / khz, 10_000_000_000L)));
        }
        report.addLatency(what, h);
    }

    /** The driver's ports, answered on the thread of the vCPU that wrote them. */
    private final class Ports implements BusDevice {
        @Override
        public long read(long offset, int size) {
            return (int) offset + PORT_REPORT == PORT_MIGRATED && migrated ? 1 : 0;
        }

        @Override
        public void write(long offset, int size, long value) {
            switch ((int) offset + PORT_REPORT) {
                case PORT_REPORT -> stepReported((int) value);
                case PORT_QUERY -> {
                    DriverTarget.LoopTargets lt = mb(MB_HOT) != 0 ? t.loopTargets(barsFromMailbox())
                            : t.loopTargets((int) mb(0x40));
                    targets = lt;
                    GuestRam ram = t.memory().ram();
                    ram.writeU64(MAILBOX + MB_TRAPPED, lt.trapped());
                    ram.writeU64(MAILBOX + MB_DIRECT, lt.direct());
                    ram.writeU64(MAILBOX + MB_TRAPPED_IO, lt.trappedIsPort() ? 1 : 0);
                }
                case PORT_DONE -> vcpus.stopAll();
                case PORT_HOTPLUG -> hotplugEvent((int) value & 0xff);
                case PORT_FAULT -> {
                    KvmVcpu on = Vcpus.current(); // ports are answered on the thread of the vCPU that wrote
                    fault = "the guest took CPU exception " + value + (vcpus.size() > 1 ? " on vCPU " + on.id() : "")
                            + " (rip 0x" + Long.toHexString(on.register(X86Register.RIP)) + ")";
                    vcpus.stopAll();
                    Consumer<String> out = hotplugOut;
                    if (out != null) {
                        out.accept("hotplug: the service stopped: " + fault + "\n");
                    }
                }
                default -> {
                }
            }
        }
    }

    /** The hot-added device whose steps the guest is reporting, or null (the start's). */
    private record HotDevice(int index, String port) {
    }

    private volatile HotDevice hot;

    /** The BARs of the function driven, as the guest sized and placed them (the mailbox's). */
    private BarLayout barsFromMailbox() {
        long[] sizes = new long[6];
        long[] addresses = new long[6];
        for (int i = 0; i < 6; i++) {
            sizes[i] = mb(MB_BAR_SIZE + 8 * i);
            addresses[i] = mb(MB_BAR_ADDR + 8 * i);
        }
        return new BarLayout(sizes, addresses, (int) mb(MB_BAR_IO), (int) mb(MB_BAR_WIDE));
    }

    /** Root port {@code index} of the guest's table, in HotplugReport's words. */
    private String portName(int index) {
        int entry = MB_HP_PORTS + index * HP_ENTRY;
        return HotplugReport.port((int) mb(entry + HP_DEVFN), (int) (mb(entry + HP_SLOTCAP) >>> 19 & 0x1fff));
    }

    /** An event of the guest's hotplug service, in the words HostHotplug's are in. */
    private void hotplugEvent(int event) {
        Consumer<String> out = hotplugOut;
        int index = (int) mb(MB_HP_PORT);
        int bdf = (int) mb(MB_HP_BDF);
        switch (event) {
            case HP_SERVING -> {
                List<String> served = new java.util.ArrayList<>();
                for (int i = 0; i < mb(MB_HP_COUNT); i++) {
                    int entry = MB_HP_PORTS + i * HP_ENTRY;
                    served.add(HotplugReport.served((int) mb(entry + HP_DEVFN), (int) (mb(entry + HP_SLOTCAP) >>> 19
                            & 0x1fff), (int) mb(entry + HP_SECONDARY)));
                }
                emit(out, HotplugReport.serving(served, HostHotplug.VECTOR));
            }
            case HP_BEGIN -> {
                hot = new HotDevice(index, portName(index));
                report = new DriverReport();
                targets = null;
            }
            case HP_END -> {
                latencies();
                HotDevice h = hot;
                hot = null;
                emit(out, HotplugReport.added(h == null ? portName(index) : h.port(), bdf, (int) mb(MB_HP_HOW),
                        report));
            }
            case HP_NOT_UP -> emit(out, HotplugReport.notUp(portName(index), (int) mb(MB_HP_HOW), (int) mb(MB_HP_WHY),
                    bdf));
            case HP_REMOVED -> {
                int entry = MB_HP_PORTS + index * HP_ENTRY;
                boolean powerController = (mb(entry + HP_SLOTCAP) & 0x2) != 0; // PCI_EXP_SLTCAP_PCP
                emit(out, HotplugReport.removed(portName(index), bdf, powerController, mb(MB_HP_DONE) != 0));
            }
            case HP_EMPTY -> emit(out, HotplugReport.empty(portName(index), bdf));
            default -> {
            }
        }
    }

    private static void emit(Consumer<String> out, String words) {
        if (out != null) {
            out.accept(words);
        }
    }

    private void stepReported(int number) {
        DriverStep step = DriverStep.of(number);
        if (step == null) {
            return;
        }
        int at = MB_RECORDS + number * 32;
        long status = mb(at);
        long a = mb(at + 8);
        long b = mb(at + 16);
        long c = mb(at + 24);
        long mmio = vcpu.exits().mmio();
        long mmioDuringStep = mmio - mmioAtLastReport;
        mmioAtLastReport = mmio;
        long io = vcpu.exits().io();
        long ioDuringStep = io - ioAtLastReport - 1; // less the report's own OUT, counted before this runs
        ioAtLastReport = io;
        StepResult.Status s = status == 1 ? StepResult.Status.PASS : status == 3 ? StepResult.Status.SKIP
                : StepResult.Status.FAIL;
        String detail = switch (step) {
            case FIND -> hot != null ? HotplugReport.found((int) a, (int) b, hot.port())
                    : s == StepResult.Status.PASS ? describeFind((int) a, (int) b, (int) c)
                    : c + " functions on bus 0, none to drive" + (a < 0 ? " (no edu-compatible 1234:11e8)" : "");
            case BARS -> {
                long[] sizes = new long[6];
                long[] addresses = new long[6];
                for (int i = 0; i < 6; i++) {
                    sizes[i] = mb(MB_BAR_SIZE + 8 * i);
                    addresses[i] = mb(MB_BAR_ADDR + 8 * i);
                }
                String bars = describeBars((int) a, (int) b, sizes, addresses, (int) mb(MB_BAR_IO));
                if (hot == null) {
                    yield bars;
                }
                long entry = MB_HP_PORTS + hot.index() * (long) HP_ENTRY;
                yield HotplugReport.placed(bars, mb((int) entry + HP_MEM_BASE), mb((int) entry + HP_MEM_LIMIT),
                        mb((int) entry + HP_IO_BASE), mb((int) entry + HP_IO_LIMIT), s == StepResult.Status.PASS);
            }
            case ENABLE -> describeEnable((int) a, wantedCommand(), targets);
            case ID -> s == StepResult.Status.SKIP ? notEdu((int) a) : String.format("read 0x%08x", a);
            case LIVENESS -> s == StepResult.Status.SKIP ? notEdu((int) a)
                    : String.format("wrote 0x5a5aa5a5, read 0x%08x", a);
            case FACTORIAL -> s == StepResult.Status.SKIP ? notEdu((int) a) : "10! = " + a;
            case DMA -> s == StepResult.Status.SKIP ? notEdu((int) a) : describeDma((int) a, (int) b);
            case INTERRUPT -> s == StepResult.Status.SKIP ? notEdu((int) a)
                    : describeInterrupt(b == 1 ? "MSI-X" : b == 2 ? "MSI" : "no MSI or MSI-X", a, "the guest's IDT handler",
                    perVcpu(MB_IRQ_COUNT_CPU, -1));
            case STORM -> s == StepResult.Status.SKIP ? notEdu((int) a)
                    : describeStorm(a, mb(MB_IRQ_COUNT) - vcpus.size(), "by the guest's handler",
                    perVcpu(MB_IRQ_COUNT_CPU, MB_IRQ_SNAP));
            case TRAPPED -> {
                if (s == StepResult.Status.SKIP) {
                    yield targets == null ? "the driver did not ask where to read" : targets.noTrapped();
                }
                boolean port = targets != null && targets.trappedIsPort();
                long exits = port ? ioDuringStep : mmioDuringStep;
                boolean exact = exits == c;
                s = exact ? s : StepResult.Status.FAIL;
                String per = exact ? ", one per access" : ", expected one per access";
                yield port ? String.format("%d reads of port 0x%x (last 0x%08x): %d IO exits%s", c, b, a, exits, per)
                        : String.format("%d reads of 0x%x: %d MMIO exits%s", c, b, exits, per);
            }
            case DIRECT -> {
                if (s == StepResult.Status.SKIP) {
                    yield targets == null ? "the driver did not ask where to read" : targets.noDirect();
                }
                s = mmioDuringStep == 0 ? s : StepResult.Status.FAIL;
                yield String.format("%d reads of 0x%x: %d MMIO exits%s", c, b, mmioDuringStep, mmioDuringStep == 0
                        ? ": the BAR is memory to the guest" : ", expected none");
            }
            case MIGRATION -> describeMigration(a, (int) b & 0xff, c, (int) (b >>> 8) & 0xff, (b >>> 16 & 1) == 0);
            case INTX -> c < 0 // the top bit: the step did not run, and a says why
                    ? intxNotRun((int) a, (int) b, (int) c)
                    : describeIntx((int) (b >>> 24), a, (int) b & 0xFF, (int) (b >>> 8) & 0xFF, ((b >>> 16) & 1) != 0,
                            c & 0xFFFF_FFFFL, c >>> 32, "the guest's IDT handler");
        };
        report.add(new StepResult(step, s, detail));
    }

    /** What the handler counted on each vCPU (by APIC ID, which is the vCPU's number), less {@code since}'s. */
    private long[] perVcpu(int counts, int since) {
        long[] n = new long[vcpus.size()];
        for (int i = 0; i < n.length; i++) {
            n[i] = mb(counts + 8 * i) - (since < 0 ? 0 : mb(since + 8 * i));
        }
        return n;
    }

    // ---- the words both drivers use ----

    static String describeFind(int devfn, int ids, int present) {
        return String.format("00:%02x.%x [%04x:%04x]%s; %d functions on bus 0", devfn >>> 3, devfn & 7, ids & 0xFFFF,
                ids >>> 16, ids == 0x11e81234 ? ", edu-compatible" : "", present);
    }

    static String describeBar(int index, long size, long address, boolean io) {
        String s = size >= 1 << 20 ? (size >> 20) + "M" : size >= 1 << 10 ? (size >> 10) + "K" : size + "B";
        return "BAR" + index + " " + s + (io ? " at port 0x" : " at 0x") + Long.toHexString(address);
    }

    /** The command bits the driver turns on: decode for the kinds of BAR it placed, and bus mastering. */
    private int wantedCommand() {
        int wanted = 0x4;
        for (int i = 0; i < 6; i++) {
            if (mb(MB_BAR_SIZE + 8 * i) != 0) {
                wanted |= (mb(MB_BAR_IO) >>> i & 1) != 0 ? 0x1 : 0x2;
            }
        }
        return wanted;
    }

    /**
     * "3 memory BARs sized and placed: BAR0 1M at 0xc0000000, ...", "1 I/O BAR sized and placed:
     * BAR0 16B at port 0xc000", or that there are none; {@code ioMask} bit i marks BAR i as I/O.
     */
    static String describeBars(int memory, int io, long[] sizes, long[] addresses, int ioMask) {
        if (memory + io == 0) {
            return "the device implements no BARs (all six read 0 after sizing): nothing to place";
        }
        StringBuilder sb = new StringBuilder();
        if (memory > 0) {
            sb.append(memory).append(memory == 1 ? " memory BAR" : " memory BARs");
        }
        if (io > 0) {
            sb.append(memory > 0 ? " and " : "").append(io).append(io == 1 ? " I/O BAR" : " I/O BARs");
        }
        sb.append(" sized and placed: ");
        boolean first = true;
        for (int i = 0; i < 6; i++) {
            if (sizes[i] != 0) {
                sb.append(first ? "" : ", ").append(describeBar(i, sizes[i], addresses[i], (ioMask >>> i & 1) != 0));
                first = false;
            }
        }
        return sb.toString();
    }

    static String describeEnable(int command, int wanted, DriverTarget.LoopTargets targets) {
        String on = (wanted & 0x3) == 0x3 ? "I/O and memory decode and bus mastering on"
                : (wanted & 0x1) != 0 ? "I/O decode and bus mastering on"
                : (wanted & 0x2) != 0 ? "memory decode and bus mastering on"
                : "bus mastering on (no BAR to decode)";
        String where = targets == null ? "" : String.format("; %s, %s", targets.trapped() == 0 ? "no BAR traps"
                : (targets.trappedIsPort() ? "port 0x" : "0x") + Long.toHexString(targets.trapped()) + " traps",
                targets.direct() == 0 ? "none is mapped" : "0x" + Long.toHexString(targets.direct())
                        + " is mapped into the guest");
        return String.format("command 0x%04x: %s%s", command, on, where);
    }

    static String notEdu(int ids) {
        return String.format("the device [%04x:%04x] is not edu-compatible (1234:11e8): edu's registers are not there "
                + "to drive", ids & 0xFFFF, ids >>> 16);
    }

    static String describeDma(int equalBytes, int total) {
        return equalBytes == total ? total + " bytes RAM -> device -> RAM, equal byte for byte"
                : total + " bytes RAM -> device -> RAM, first difference at byte " + equalBytes;
    }

    /** {@code perVcpu}: what each vCPU took; with one vCPU the words are those of a machine with one. */
    static String describeInterrupt(String kind, long count, String where, long[] perVcpu) {
        String aimed = perVcpu.length > 1 ? " aimed at each vCPU in turn," : "";
        return kind + " vector 0x41" + aimed + " taken by " + where + " (" + count + " interrupt" + (count == 1 ? ")"
                : "s)") + onEach(perVcpu);
    }

    /** ": 1 on vCPU 0, 1 on vCPU 1", or nothing with one vCPU. */
    static String onEach(long[] perVcpu) {
        if (perVcpu.length < 2) {
            return "";
        }
        StringBuilder b = new StringBuilder(":");
        for (int i = 0; i < perVcpu.length; i++) {
            b.append(i == 0 ? " " : ", ").append(perVcpu[i]).append(" on vCPU ").append(i);
        }
        return b.toString();
    }

    /**
     * Why the INTx step did not run: 1 no recipe for the device, 2 no INTx pin, 3 a line no IOAPIC pin
     * has, 4 a device behind a root port.
     */
    static String intxNotRun(int why, int ids, int lineAndPin) {
        return switch (why) {
            case 1 -> String.format("no INTx recipe for [%04x:%04x]: the driver knows how to raise and acknowledge "
                    + "INTx on edu (1234:11e8), the GPIO card (1234:10f0) and 16550-compatible UARTs (class 0700, "
                    + "interface 00-06, registers in I/O BAR0) only", ids & 0xFFFF, ids >>> 16);
            case 2 -> "the device has no INTx pin (interrupt pin register 0)";
            case 4 -> HostDriver.INTX_BEHIND_PORT;
            default -> String.format("interrupt line %d (config 0x3c) names no IOAPIC pin (0-23): the interrupt is "
                    + "not routed", lineAndPin & 0xFF);
        };
    }

    /**
     * The INTx step's words. {@code notInService}: handler entries that found the vector no longer in
     * service at the local APIC, i.e. the platform ended the level-triggered interrupt at delivery.
     */
    static String describeIntx(int raised, long counted, int line, int pin, boolean io, long spurious,
                               long notInService, String where) {
        String s = String.format("INT%c# on IOAPIC pin %d (interrupt line %d), level-triggered, BAR0 %s: %d raised one "
                + "at a time, %d taken by %s, each acknowledged at the device before its EOI", (char) ('A' + pin - 1),
                line, line, io ? "I/O" : "MMIO", raised, counted - spurious, where);
        if (spurious > 0) {
            s += "; " + spurious + " more found the device's status clear";
        }
        if (notInService > 0) {
            s += " (this KVM ends a level-triggered interrupt at delivery, not at the EOI: the line is resampled "
                    + "while the device still asserts it)";
        }
        return s;
    }

    /** The migration step's checks, in order (driver.s's record b's low byte: 0 none failed). */
    static final int MIGRATION_RAM = 1;
    static final int MIGRATION_LIVENESS_CHECK = 2;
    static final int MIGRATION_FACTORIAL_CHECK = 3;
    static final int MIGRATION_DMA = 4;
    static final int MIGRATION_INTERRUPT = 5;

    /**
     * The migration step's words: {@code last} the soak's last iteration (the writes are last + 1),
     * {@code failed} the check that failed (0 none) and its {@code detail} (the page, the value read, the
     * first byte that differs), {@code kind} the interrupt left on (1 MSI-X, 2 MSI), {@code edu} whether
     * the device's state was checked at all.
     */
    static String describeMigration(long last, int failed, long detail, int kind, boolean edu) {
        long pages = Math.min(last, MIGRATION_PAGES - 1) + 1;
        String soak = (last + 1) + " soak writes across the migration; ";
        String irq = kind == 1 ? "MSI-X" : kind == 2 ? "MSI" : "no MSI or MSI-X";
        return soak + switch (failed) {
            case 0 -> "RAM " + pages + " pages as left" + (edu ? ", edu liveness/factorial/DMA buffer as left, " + irq
                    + " vector 0x41 taken after the migration"
                    : "; the device's state is not checked (no edu-compatible device)");
            case MIGRATION_RAM -> String.format("RAM page %d (0x%x) does not hold what its last write left there",
                    detail, MIGRATION_SOAK + detail * 4096);
            case MIGRATION_LIVENESS_CHECK -> String.format("edu liveness reads 0x%08x, expected 0x%08x (0x%08x "
                    + "written before the migration)", detail, ~MIGRATION_LIVENESS, MIGRATION_LIVENESS);
            case MIGRATION_FACTORIAL_CHECK -> String.format("edu factorial reads %d, expected %d! = %d", detail,
                    MIGRATION_FACTORIAL, MIGRATION_FACTORIAL_OF);
            case MIGRATION_DMA -> "edu's buffer DMAed into RAM differs from the pattern left there at byte " + detail;
            default -> irq + " vector 0x41: no interrupt arrived after the migration";
        };
    }

    static String describeStorm(long raised, long counted, String where, long[] perVcpu) {
        return raised + " interrupts raised one at a time, " + counted + " counted " + where + onEach(perVcpu);
    }
}
