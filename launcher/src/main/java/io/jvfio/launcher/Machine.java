package io.jvfio.launcher;

import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.InterruptRouterConfig;
import io.jvfio.irq.VirtualInterruptController;
import io.jvfio.irq.ioapic.IoApic;
import io.jvfio.kvm.irq.KvmIrqfdBypass;
import io.jvfio.kvm.irq.KvmMsiSink;
import io.jvfio.launcher.driver.DriverReport;
import io.jvfio.launcher.driver.DriverTarget;
import io.jvfio.launcher.driver.GuestDriver;
import io.jvfio.launcher.driver.HostDriver;
import io.jvfio.memory.GuestMemory;
import io.jvfio.kvm.memory.KvmRamSlots;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.memory.X86RamLayout;
import io.jvfio.vfio.passthrough.PassthroughDevice;
import io.jvfio.vfio.kernel.IommufdObjects;
import io.jvfio.vfio.kernel.PciSysfs;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.device.AttachedDevices;
import io.jvfio.kvm.Kvm;
import io.jvfio.kvm.KvmVcpu;
import io.jvfio.kvm.KvmVm;
import io.jvfio.kvm.Vcpus;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciHostBridge;

import java.util.ArrayList;
import java.util.List;

/**
 * One VM, assembled from its configuration: guest RAM, the address space and the PCI host bridge,
 * the accelerator (a KVM VM with its in-kernel interrupt controller and {@code -smp} vCPUs, interrupts by
 * KVM_SIGNAL_MSI and irqfds, INTx through the in-kernel IOAPIC; or, without KVM, virtual local APICs
 * and an emulated IOAPIC at 0xfec00000 for INTx), interrupt routing, and the
 * passed-through devices. Closing takes it apart in the reverse order: devices, routing, RAM (its
 * memory slots go first), vCPUs, VM.
 */
final class Machine implements AutoCloseable {

    final MachineConfig config;
    final GuestMemory memory = new GuestMemory();
    final AddressSpace space = new AddressSpace();
    final PciHostBridge bridge = new PciHostBridge(space, PciHostBridge.DEFAULT_ECAM_BASE);
    private Kvm kvm;
    private KvmVm vm;
    private final List<KvmVcpu> vcpus = new ArrayList<>();
    private VirtualInterruptController apics;
    private IoApic ioapic;
    private InterruptRouter router;
    private AttachedDevices devices;
    private IommufdObjects iommufds;

    private Machine(MachineConfig config) {
        this.config = config;
    }

    static Machine create(MachineConfig config) {
        Machine m = new Machine(config);
        try {
            m.build();
            return m;
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    private void build() {
        MemoryBackend ram = MemoryBackend.create(config.ram());
        try {
            X86RamLayout.install(memory, ram);
        } catch (RuntimeException e) {
            ram.close();
            throw e;
        }
        if (config.accelerator() == Accelerator.KVM) {
            kvm = Kvm.open();
            vm = KvmVm.create(kvm);
            vm.createIrqchip();
            memory.addListener(new KvmRamSlots(vm)); // guest RAM as memory slots
            space.addListener(vm);                   // and BARs the device model maps
            for (int id = 0; id < config.cpus(); id++) {
                KvmVcpu vcpu = KvmVcpu.create(vm, id);
                vcpus.add(vcpu);
                vcpu.setSupportedCpuid();
                // With the in-kernel irqchip KVM holds every vCPU but 0 for an INIT/SIPI that nothing
                // here sends; the driver's application processors start at their own entry instead.
                vcpu.makeRunnable();
            }
            router = new InterruptRouter(new KvmMsiSink(vm), InterruptRouterConfig.DEFAULT, new KvmIrqfdBypass(vm));
        } else {
            apics = new VirtualInterruptController(config.cpus());
            ioapic = new IoApic(apics);
            space.mmio().add("IOAPIC", IoApic.BASE, IoApic.SIZE, ioapic);
            router = new InterruptRouter(apics, InterruptRouterConfig.DEFAULT, null, ioapic);
        }
        iommufds = IommufdObjects.open(config.iommufds());
        // What the device drivers may ask for (DeviceDriver.create): DMA, interrupts, host PCI devices, iommufds.
        devices = new AttachedDevices(space, bridge).provide(GuestMemory.class, memory)
                .provide(InterruptRouter.class, router).provide(PciSysfs.class, PciSysfs.system())
                .provide(IommufdObjects.class, iommufds);
    }

    AttachedDevices devices() {
        return devices;
    }

    InterruptRouter router() {
        return router;
    }

    boolean onKvm() {
        return !vcpus.isEmpty();
    }

    /** Runs the built-in driver against {@code target} (null: the first edu-compatible function). */
    DriverReport drive(PciDevFn target) throws InterruptedException {
        // The run ends with the reason a device went away, as its one line, rather than the log's.
        java.util.concurrent.atomic.AtomicReference<String> gone = new java.util.concurrent.atomic.AtomicReference<>();
        // Passed-through devices report a back end that went away (VfioBackend); the SPI has no such notion.
        List<PassthroughDevice> passthrough = devices.attached().stream().map(AttachedDevices.Attached::function)
                .filter(PassthroughDevice.class::isInstance).map(PassthroughDevice.class::cast).toList();
        for (PassthroughDevice p : passthrough) {
            p.backend().onGone(reason -> gone.compareAndSet(null, reason));
        }
        DriverTarget t = new DriverTarget(memory, space, bridge, target, new DriverTarget.Watch() {
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
        });
        long mmio = space.mmio().unclaimedAccesses();
        long pio = space.pio().unclaimedAccesses();
        DriverReport report = onKvm() ? new GuestDriver(t, new Vcpus(vcpus)).run() : new HostDriver(t, apics).run();
        report.unclaimed(space.mmio().unclaimedAccesses() - mmio, space.pio().unclaimedAccesses() - pio);
        return report;
    }

    @Override
    public void close() {
        if (devices != null) {
            devices.close();
        }
        if (iommufds != null) {
            iommufds.close(); // after the devices bound to them and their IOASes
        }
        if (router != null) {
            router.close();
        }
        memory.close();
        for (KvmVcpu vcpu : vcpus) {
            vcpu.close();
        }
        if (vm != null) {
            vm.close();
        }
        if (kvm != null) {
            kvm.close();
        }
    }
}
