package io.jvfio.launcher;

import io.jvfio.JvfioException;
import io.jvfio.irq.DeliveryThread;
import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.RouteStats;
import io.jvfio.launcher.driver.DriverReport;
import io.jvfio.launcher.driver.DriverTarget;
import io.jvfio.migration.MigrationControl;
import io.jvfio.migration.MigrationInfo;
import io.jvfio.migration.MigrationListener;
import io.jvfio.migration.MigrationUri;
import io.jvfio.vmm.migration.MigrationException;
import io.jvfio.qmp.QmpChardev;
import io.jvfio.qmp.QmpMonitor;
import io.jvfio.vmm.device.AttachedDevices;
import io.jvfio.vmm.device.DeviceConfig;
import io.jvfio.vmm.device.DeviceRegistry;
import io.jvfio.vmm.options.OptionString;
import io.jvfio.vmm.pci.PciConfigDump;

import java.io.PrintStream;
import java.util.List;

/**
 * The {@code jvfio} command: assembles the VM its options describe, attaches its devices, runs the
 * built-in driver against the first of them (on a KVM vCPU, or from the host without KVM) and
 * reports. With no {@code -device}, the device is the edu device written in Java, served over
 * vfio-user on a private socket. Bad input gets one line on stderr and status 1; help and listings go
 * to stdout with status 0; a step that fails, status 3; a device that goes away during the run, one
 * line saying why and status 4; an internal error (a bug), its stack and status 70. With {@code -qmp}, the machine then runs under a QMP monitor until its
 * {@code quit}.
 */
public final class Main {

    /** The driver ran, and a step failed (or the run itself did). */
    static final int EXIT_STEP_FAILED = 3;
    /**
     * The device went away during the run: its vfio-user server stopped answering or disconnected,
     * or the memory behind a mapped BAR vanished.
     */
    static final int EXIT_DEVICE_GONE = 4;

    private Main() {
    }

    /**
     * An internal error: an exception no part of jvfio expected (a bug). The run ends with it rather than
     * leaving the process up without its main thread (EX_SOFTWARE of sysexits.h).
     */
    static final int EXIT_INTERNAL_ERROR = 70;

    public static void main(String[] args) {
        Signals.catchSigintEvenIfIgnored();
        int status;
        try {
            status = run(args, System.out, System.err);
        } catch (RuntimeException | Error e) {
            System.err.println("jvfio: internal error (a bug in jvfio: please report it with what follows): " + e);
            e.printStackTrace(System.err);
            status = EXIT_INTERNAL_ERROR;
        }
        System.exit(status);
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        DeviceRegistry registry = DeviceRegistry.load();
        CommandLine.Command command;
        try {
            command = new CommandLine(registry).parse(args);
        } catch (UsageException e) {
            err.println(oneLine("jvfio: " + e.getMessage()));
            return 1;
        }
        if (command instanceof CommandLine.ShowText text) {
            out.print(text.text());
            return 0;
        }
        if (command instanceof CommandLine.Serve serve) {
            return DeviceServer.runUntilSignalled(serve, out, err);
        }
        MachineConfig config = ((CommandLine.Launch) command).config();
        // With a monitor on stdio standard output is the monitor's: the report goes to standard error.
        if (config.monitors().stream().anyMatch(QmpChardev::stdio)) {
            return launch(config, registry, err, out, err);
        }
        return launch(config, registry, out, out, err);
    }

    private static int launch(MachineConfig config, DeviceRegistry registry, PrintStream out, PrintStream monitorOut,
            PrintStream err) {
        List<DeviceConfig> devices = config.devices();
        EmbeddedEdu edu = null;
        try {
            if (devices.isEmpty()) {
                edu = new EmbeddedEdu();
                devices = List.of(registry.configure(OptionString.parse("vfio-user-pci,socket=" + edu.socket(),
                        "driver")));
            }
            try (Machine m = Machine.create(config)) {
                for (DeviceConfig d : devices) {
                    try {
                        m.devices().attach(d);
                    } catch (JvfioException e) {
                        err.println(oneLine("jvfio: -device " + d + ": " + e.getMessage()));
                        return 1;
                    }
                }
                List<AttachedDevices.Attached> placed = m.devices().attached();
                MigrationControl migration = new MigrationControl(m.vm(), Version.jvfio());
                if (config.incoming() != null) {
                    // Before the monitors open, so that their run state starts as inmigrate (QEMU's).
                    migration.incoming(config.incoming());
                }
                // The monitors open as the machine starts, as QEMU's do: a management layer connects at once
                // and queries while the driver's steps run.
                try (QmpMonitor monitor = openMonitors(m, migration, config.monitors(), monitorOut, err)) {
                    if (config.incoming() != null) {
                        return incoming(config, m, migration, monitor, placed, edu, out);
                    }
                    DriverReport report;
                    try (QmpMonitor.Hold held = monitor == null ? null : monitor.holdRunState("the built-in "
                            + "driver's steps are running")) {
                        out.println(header(config, m, edu));
                        out.print(PciConfigDump.list(m.bridge));
                        report = m.drive(placed.get(0).at()); // the first -device is the one driven
                    }
                    report(out, m, placed, report);
                    int status = report.passed() ? 0 : EXIT_STEP_FAILED;
                    if (monitor != null) {
                        runOn(m, migration, monitor, out);
                    }
                    return status;
                }
            }
        } catch (DriverTarget.DeviceGoneException e) {
            err.println(oneLine("jvfio: " + e.getMessage()));
            return EXIT_DEVICE_GONE;
        } catch (JvfioException e) {
            err.println(oneLine("jvfio: " + e.getMessage()));
            return 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            err.println("jvfio: interrupted");
            return 1;
        } finally {
            if (edu != null) {
                edu.close();
            }
        }
    }

    /**
     * A machine started with {@code -incoming}: it runs nothing until the migration is loaded (RAM, the vCPUs'
     * or the interrupt controllers' state, every device's), then the built-in driver goes on from where its
     * migration step was on the source: it checks what it left in RAM and in the device and that interrupts
     * still arrive, and runs its steps again; the report is of those. A stream this machine cannot take ends
     * the run with QEMU's "load of migration failed: ..." and what differs, status 1.
     */
    private static int incoming(MachineConfig config, Machine m, MigrationControl migration, QmpMonitor monitor,
            List<AttachedDevices.Attached> placed, EmbeddedEdu edu, PrintStream out) throws InterruptedException {
        out.println(header(config, m, edu));
        out.println("jvfio: waiting for an incoming migration " + (config.incoming().equals(MigrationUri.DEFER)
                ? "(-incoming defer: QMP migrate-incoming names where from)" : "from " + config.incoming()));
        out.flush();
        if (monitor != null) {
            // A quit while the machine waits for its migration ends the wait, and the run.
            Thread quit = new Thread(() -> {
                try {
                    monitor.awaitQuit();
                    migration.abandonIncoming();
                } catch (InterruptedException e) {
                    // the run is over
                }
            }, "jvfio-incoming-quit");
            quit.setDaemon(true);
            quit.start();
        }
        MigrationInfo loaded = migration.awaitIncomingLoaded();
        out.println("jvfio: the machine came in by migration" + (loaded.totalTimeMs() == null ? ""
                : ", loaded in " + loaded.totalTimeMs() + " ms") + (loaded.ram() == null ? ""
                : " (" + loaded.ram().transferred() + " bytes of RAM received)")
                + "; the built-in driver goes on from its migration step");
        DriverReport report;
        try (QmpMonitor.Hold held = monitor == null ? null : monitor.holdRunState("the built-in "
                + "driver's steps after the migration are running")) {
            report = m.resumeMigrated(placed.get(0).at());
        }
        report(out, m, placed, report);
        int status = report.passed() ? 0 : EXIT_STEP_FAILED;
        if (monitor != null) {
            runOn(m, migration, monitor, out);
        }
        return status;
    }

    /**
     * After the steps, with a monitor: the driver's hotplug service answers the root ports' slots, and the
     * driver's migration step runs across any {@code migrate} (it starts with the migration, pauses the
     * host-side driver at the stop, and goes on if the migration fails), until a client's {@code quit}.
     */
    private static void runOn(Machine m, MigrationControl migration, QmpMonitor monitor, PrintStream out)
            throws InterruptedException {
        // Each event's words go where the report went (stderr with -qmp stdio).
        java.util.function.Consumer<String> words = w -> {
            synchronized (out) {
                out.print(w);
                out.flush();
            }
        };
        m.serveHotplug(words);
        migration.addListener(new MigrationListener() {
            @Override
            public void setup() {
                m.migrationStarting();
                words.accept("jvfio: migrating: the built-in driver's migration step writes RAM and leaves state in "
                        + "the device while the machine runs\n");
            }

            @Override
            public void stopping() {
                try {
                    m.pauseGuest();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new MigrationException("interrupted while the built-in driver's migration step paused", e);
                }
            }

            @Override
            public void failed(String reason) {
                m.resumeGuest();
                words.accept(oneLine("jvfio: the migration failed (" + reason + "); the machine runs on") + "\n");
            }

            @Override
            public void completed() {
                MigrationInfo i = migration.info();
                words.accept("jvfio: migrated" + (i.downtimeMs() == null ? "" : ": downtime " + i.downtimeMs() + " ms")
                        + (i.totalTimeMs() == null ? "" : ", total " + i.totalTimeMs() + " ms") + (i.ram() == null ? ""
                        : ", " + i.ram().transferred() + " bytes of RAM in " + i.ram().dirtySyncCount()
                        + " dirty syncs") + "; the machine stays stopped here (postmigrate) until quit\n");
            }
        });
        runUntilQuit(m, monitor);
    }

    /** The report after the steps: the steps, the devices, and how each interrupt source's interrupts travelled. */
    private static void report(PrintStream out, Machine m, List<AttachedDevices.Attached> placed, DriverReport report) {
        out.print(report.render());
        out.println("devices:");
        for (AttachedDevices.Attached p : placed) {
            out.println("  00:" + p.at() + " " + p.config() + ", " + DeviceDescription.describe(p.function()));
        }
        // Each interrupt source's latest route that carried something (MSI-X went off for INTx, so
        // its routes are among the removed ones).
        java.util.Map<String, String> paths = new java.util.LinkedHashMap<>();
        for (InterruptRoute r : m.router().history()) {
            String path = interruptPath(r, m.onKvm(), m.router().config().deliveryThread());
            if (path != null) {
                paths.remove(r.name());
                paths.put(r.name(), path);
            }
        }
        for (AttachedDevices.Attached p : placed) {
            paths.forEach((name, path) -> {
                if (name.startsWith(p.function().name() + " ")) {
                    out.println("    " + path);
                }
            });
        }
    }

    /** The machine's monitors, open on every chardev of {@code -qmp} and {@code -mon}; null with none. */
    private static QmpMonitor openMonitors(Machine m, MigrationControl migration, List<QmpChardev> where,
            PrintStream monitorOut, PrintStream err) {
        if (where.isEmpty()) {
            return null;
        }
        QmpMonitor monitor = QmpMonitor.open(m.vm(), migration, where, Version.jvfio(), System.in, monitorOut);
        err.println("jvfio: QMP monitor" + (where.size() > 1 ? "s" : "") + " on " + String.join(" and ",
                where.stream().map(QmpChardev::toString).toList()) + "; the machine runs until quit");
        return monitor;
    }

    /**
     * With a monitor: the machine goes on after the driver's steps (on KVM its vCPUs run again, from where
     * the driver left them: the guest serves its hotplug ports, or halts with interrupts on
     * for a migration request) until a client's {@code quit}; the machine
     * is closed after it.
     */
    private static void runUntilQuit(Machine m, QmpMonitor monitor) throws InterruptedException {
        if (m.onKvm() && !m.vm().vcpus().running()) {
            m.vm().vcpus().start(m.space);
        }
        monitor.awaitQuit();
    }

    /**
     * An error as one line: a control character from the command line (a newline in a value) is
     * written escaped, so the message stays the one line the README promises.
     */
    static String oneLine(String message) {
        StringBuilder b = new StringBuilder(message.length());
        for (int i = 0; i < message.length(); i++) {
            char c = message.charAt(i);
            switch (c) {
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20 || c == 0x7f) {
                        b.append(String.format("\\x%02x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.toString();
    }

    /**
     * How a route's interrupts travelled, for a route that carried some; null for one that did not.
     * {@code delivery}: the router's delivering thread, the poller (the default) or the ring's dispatcher.
     */
    static String interruptPath(InterruptRoute r, boolean kvm, DeliveryThread delivery) {
        RouteStats st = r.stats();
        String userSpace = delivery == DeliveryThread.POLLER ? "the poller"
                : "the poller and the Disruptor ring";
        if (r.kind() == io.jvfio.irq.RouteKind.INTX) {
            if (r.everBypassed()) {
                return r.name() + ": a resampling KVM irqfd on IOAPIC pin " + r.gsi() + " (the kernel asserts the line, "
                        + "and deasserts it and re-arms the device at the guest's EOI)";
            }
            if (st.delivered() == 0 && st.undeliverable() == 0) {
                return null;
            }
            return r.name() + ": " + st.messages() + " assertions of IOAPIC pin " + r.gsi() + " (the emulated IOAPIC), "
                    + st.delivered() + " signals through " + userSpace
                    + (st.undeliverable() > 0 ? ", " + st.undeliverable() + " on no pin" : "");
        }
        if (r.everBypassed()) {
            return r.name() + ": a KVM irqfd on a GSI route (the bypass): the kernel delivers them, user space never "
                    + "sees them" + (st.delivered() > 0 ? "; " + st.delivered() + " passed " + userSpace + " while masked or "
                    + "being programmed" : "");
        }
        if (st.delivered() == 0 && st.undeliverable() == 0 && !st.pending()) {
            return null;
        }
        return r.name() + ": " + st.delivered() + " through " + userSpace + " to "
                + (kvm ? "KVM_SIGNAL_MSI" : "the virtual local APIC")
                + (st.undeliverable() > 0 ? ", " + st.undeliverable() + " undeliverable" : "")
                + (st.pending() ? ", pending" : "");
    }

    /** The first line: how the driver runs, the machine, and where the embedded device is. */
    private static String header(MachineConfig config, Machine m, EmbeddedEdu edu) {
        String how = m.onKvm() ? "the built-in guest driver on " + (config.cpus() > 1 ? config.cpus() + " KVM vCPUs"
                : "a KVM vCPU")
                : "no KVM (-accel none" + (config.acceleratorChosen() ? "" : ", as /dev/kvm is not usable here")
                + "): the built-in driver's steps run from the host, in Java, through the same buses and device "
                + "model";
        return "jvfio: " + how + "; " + (config.cpus() > 1 && !m.onKvm() ? config.cpus() + " local APICs, " : "")
                + (config.ram().size() >> 20) + " MiB of RAM"
                + (config.name() != null ? ", VM \"" + config.name() + "\"" : "")
                + (edu != null ? "; the edu device served over vfio-user on " + edu.socket() : "");
    }
}
