package io.jvfio.launcher;

import io.jvfio.irq.InterruptRouter;
import io.jvfio.launcher.driver.DriverReport;
import io.jvfio.launcher.driver.DriverTarget;
import io.jvfio.launcher.driver.GuestDriver;
import io.jvfio.launcher.driver.HostDriver;
import io.jvfio.launcher.driver.HostHotplug;
import io.jvfio.memory.GuestMemory;
import io.jvfio.vfio.DmaAddressing;
import io.jvfio.vfio.passthrough.PassthroughDevice;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.device.AttachedDevices;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciHostBridge;
import io.jvfio.vmm.pci.PciRegs;
import io.jvfio.machine.VirtualMachine;

import java.util.List;
import java.util.function.Consumer;

/**
 * The launcher's VM: a {@link VirtualMachine} built from the command line's configuration (RAM,
 * accelerator, {@code -smp} vCPUs; the {@code -device} options are attached by Main, one by one, to
 * report each failure as its own) with its {@code -object iommufd}s, and the built-in driver run against it.
 */
final class Machine implements AutoCloseable {

    final MachineConfig config;
    private final VirtualMachine vm;
    final GuestMemory memory;
    final AddressSpace space;
    final PciHostBridge bridge;
    /** The host-side driver of the last run, for its hotplug service. */
    private HostDriver hostDriver;
    private HostHotplug hotplug;
    /** The guest driver of the last run: its ports stay for the guest's hotplug service. */
    private GuestDriver guestDriver;

    private Machine(MachineConfig config, VirtualMachine vm) {
        this.config = config;
        this.vm = vm;
        this.memory = vm.memory();
        this.space = vm.space();
        this.bridge = vm.bridge();
    }

    static Machine create(MachineConfig config) {
        return new Machine(config, VirtualMachine.create(config.name(), config.ram(), config.accelerator() == Accelerator.KVM
                ? VirtualMachine.Accelerator.KVM : VirtualMachine.Accelerator.NONE, config.cpus(), config.iommufds()));
    }

    /** The machine itself, for the monitor. */
    VirtualMachine vm() {
        return vm;
    }

    AttachedDevices devices() {
        return vm.devices();
    }

    InterruptRouter router() {
        return vm.router();
    }

    boolean onKvm() {
        return vm.vcpus() != null;
    }

    /** Runs the built-in driver against {@code target} (null: the first edu-compatible function). */
    DriverReport drive(PciDevFn target) throws InterruptedException {
        DriverTarget t = target(target);
        long mmio = space.mmio().unclaimedAccesses();
        long pio = space.pio().unclaimedAccesses();
        DriverReport report;
        if (onKvm()) {
            guestDriver = new GuestDriver(t, vm.vcpus(), vm.kvmVm());
            report = guestDriver.run();
        } else {
            hostDriver = new HostDriver(t, vm.apics());
            report = hostDriver.run();
        }
        report.unclaimed(space.mmio().unclaimedAccesses() - mmio, space.pio().unclaimedAccesses() - pio);
        return report;
    }

    /**
     * On a migration's source, after {@link #drive} (and, on KVM, with the vCPUs running the guest's
     * service loop): the built-in driver's migration step starts. It leaves state in the device and keeps
     * writing guest RAM until the machine stops; on KVM the guest program does it (asked through its
     * mailbox and an MSI), without KVM a thread of the host-side driver, which {@link #pauseGuest} stops.
     *
     * @throws IllegalStateException before a run of the driver
     */
    void migrationStarting() {
        if (guestDriver != null) {
            guestDriver.migrationStarting();
        } else if (hostDriver != null) {
            hostDriver.migrationStarting();
        } else {
            throw new IllegalStateException("the built-in driver has not run on this machine: no migration step "
                    + "to start (drive first)");
        }
    }

    /**
     * The machine stops for the migration's last round: without KVM the host-side driver's migration step
     * waits between two writes until {@link #resumeGuest} (on KVM nothing: the stopped vCPUs are the guest).
     */
    void pauseGuest() throws InterruptedException {
        if (hostDriver != null) {
            hostDriver.pauseGuest();
        }
    }

    /** The machine runs on after a failed or cancelled migration: the paused step writes again (not on KVM). */
    void resumeGuest() {
        if (hostDriver != null) {
            hostDriver.resumeGuest();
        }
    }

    /**
     * On a migration's destination, with guest RAM, the vCPUs' state and the devices' state loaded (or,
     * in a test, on the source itself, stopped): the built-in driver goes on from where its migration step
     * was. On KVM no program is loaded: the driver's ports are registered and the vCPUs run from their
     * loaded state, PORT_MIGRATED answering 1, until the guest's PORT_DONE; without KVM a new host-side
     * driver takes the source's progress from RAM. Either checks RAM, the device's state and an interrupt,
     * then runs steps 3 to 12 again on {@code target}'s device; the report holds {@code migration} and the
     * steps after it. {@link #serveHotplug} may follow, as after {@link #drive}.
     */
    DriverReport resumeMigrated(PciDevFn target) throws InterruptedException {
        DriverTarget t = target(target);
        long mmio = space.mmio().unclaimedAccesses();
        long pio = space.pio().unclaimedAccesses();
        DriverReport report;
        if (onKvm()) {
            if (guestDriver != null) {
                guestDriver.close(); // the source's driver's ports (a migration within this machine, in a test)
            }
            guestDriver = new GuestDriver(t, vm.vcpus(), vm.kvmVm());
            report = guestDriver.resumeMigrated();
        } else {
            if (hostDriver != null) {
                hostDriver.migratedAway(); // the source's soak ends (a migration within this machine, in a test)
            }
            hostDriver = new HostDriver(t, vm.apics());
            report = hostDriver.resumeMigrated();
        }
        report.unclaimed(space.mmio().unclaimedAccesses() - mmio, space.pio().unclaimedAccesses() - pio);
        return report;
    }

    /** What the built-in driver drives, {@code target} (null: the first edu-compatible function), and how. */
    private DriverTarget target(PciDevFn target) {
        // The run ends with the reason a device went away, as its one line, rather than the log's.
        java.util.concurrent.atomic.AtomicReference<String> gone = new java.util.concurrent.atomic.AtomicReference<>();
        // Passed-through devices report a back end that went away (VfioBackend); the SPI has no such notion.
        List<PassthroughDevice> passthrough = vm.devices().attached().stream().map(AttachedDevices.Attached::function)
                .filter(PassthroughDevice.class::isInstance).map(PassthroughDevice.class::cast).toList();
        for (PassthroughDevice p : passthrough) {
            p.backend().onGone(reason -> gone.compareAndSet(null, reason));
        }
        // The DMA addresses the driven device sees guest RAM at, from its back end: the guest physical
        // addresses themselves, except for a device in VFIO's no-IOMMU mode.
        DmaAddressing dma = target == null ? DmaAddressing.GUEST_PHYSICAL : dmaAddressing(target.devfn());
        DriverTarget t = new DriverTarget(memory, space, bridge, target, dma, new DriverTarget.Watch() {
            @Override
            public String gone() {
                return gone.get();
            }

            @Override
            public String lostMapping() {
                for (PassthroughDevice p : passthrough) {
                    String lost = p.backend().lostMapping();
                    if (lost != null) {
                        return lost;
                    }
                }
                return null;
            }
        }, this::dmaAddressing);
        return t;
    }

    /**
     * The DMA addresses the function at {@code bdf} (bus << 8 | devfn) sees guest RAM at, from its back
     * end: the guest physical addresses themselves, except for a device in VFIO's no-IOMMU mode.
     */
    private DmaAddressing dmaAddressing(int bdf) {
        int bus = bdf >>> 8;
        // A device behind a root port is on the bus the guest numbered the port's secondary side.
        return vm.devices().attached().stream().filter(a -> a.at().devfn() == (bdf & 0xff) && (a.upstream() == null
                        ? bus == 0
                        : bus != 0 && bridge.configRead(a.upstream().devfn(), PciRegs.PCI_SECONDARY_BUS, 1) == bus))
                .map(AttachedDevices.Attached::function).filter(PassthroughDevice.class::isInstance)
                .map(f -> ((PassthroughDevice) f).backend().dmaAddressing()).findFirst()
                .orElse(DmaAddressing.GUEST_PHYSICAL);
    }

    /**
     * After {@link #drive}: the built-in driver's hotplug service for the machine's hot-plug capable root
     * ports, each event's words to {@code out}, until the machine closes. On KVM the guest program serves
     * them once its vCPUs run again (it goes on from its steps to the service); without KVM a thread of
     * the host-side driver does. Without such a port, or before a run, there is nothing to serve.
     */
    void serveHotplug(Consumer<String> out) {
        if (guestDriver != null) {
            guestDriver.serveHotplug(out);
        }
        if (hostDriver != null && hotplug == null) {
            hotplug = HostHotplug.start(hostDriver, out);
        }
    }

    @Override
    public void close() {
        if (hotplug != null) {
            hotplug.close(); // before the devices go: its thread may be driving one
        }
        if (hostDriver != null) {
            try {
                hostDriver.migratedAway(); // a migration step's soak writes guest RAM: it ends before RAM goes
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (guestDriver != null) {
            guestDriver.close(); // its ports (a vCPU still running finds nothing there until it stops)
        }
        vm.close();
    }
}
