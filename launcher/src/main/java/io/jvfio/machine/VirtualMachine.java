package io.jvfio.machine;

import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.InterruptRouterConfig;
import io.jvfio.irq.InterruptSink;
import io.jvfio.irq.VirtualInterruptController;
import io.jvfio.irq.ioapic.IoApic;
import io.jvfio.kvm.KvmMachine;
import io.jvfio.kvm.KvmVm;
import io.jvfio.kvm.Vcpus;
import io.jvfio.kvm.irq.KvmIrqfdBypass;
import io.jvfio.kvm.irq.KvmMsiSink;
import io.jvfio.kvm.memory.KvmRamSlots;
import io.jvfio.memory.DmaMappingListener;
import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.memory.MemoryBackendConfig;
import io.jvfio.memory.X86RamLayout;
import io.jvfio.vfio.emulated.EmulatedDevice;
import io.jvfio.vfio.inprocess.InProcessBackend;
import io.jvfio.vfio.kernel.IommufdConfig;
import io.jvfio.vfio.kernel.IommufdObjects;
import io.jvfio.vfio.kernel.PciSysfs;
import io.jvfio.vfio.passthrough.PassthroughDevice;
import io.jvfio.vfio.passthrough.PassthroughOptions;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.device.AttachedDevices;
import io.jvfio.vmm.device.DeviceConfig;
import io.jvfio.vmm.device.DeviceDriver;
import io.jvfio.vmm.device.DeviceRegistry;
import io.jvfio.vmm.device.DriverSide;
import io.jvfio.vmm.device.MachineContext;
import io.jvfio.vmm.migration.DirtyLog;
import io.jvfio.vmm.migration.Migratable;
import io.jvfio.vmm.migration.MigrationException;
import io.jvfio.vmm.options.Property;
import io.jvfio.vmm.options.OptionString;
import io.jvfio.vmm.options.OptionValues;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.pci.MsiSignal;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciFunction;
import io.jvfio.vmm.pci.PciHostBridge;
import io.jvfio.vmm.pcie.PcieHotplugHandler;
import io.jvfio.vmm.pcie.PcieRootPort;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * One x86 virtual machine, composed by a Java program without the {@code jvfio} command line: the
 * address space and the PCI host bridge (ECAM at {@link PciHostBridge#DEFAULT_ECAM_BASE}, 0xB0000000),
 * guest RAM laid out as on QEMU's q35 (below the ECAM window if it fits, else 2 GiB below and the rest
 * from 4 GiB: {@link X86RamLayout#lowRamEnd}), the accelerator, interrupt routing, and the devices in
 * the order they were given.
 *
 * <pre>{@code
 * try (VirtualMachine vm = VirtualMachine.builder()
 *         .memory("64M")
 *         .accelerator(VirtualMachine.Accelerator.KVM)
 *         .vcpus(1)
 *         .object("iommufd,id=i0")                             // as -object takes it
 *         .device("vfio-pci,host=0000:01:00.0,iommufd=i0")     // as -device takes it
 *         .device("vfio-user-pci,socket=/run/edu.sock")
 *         .device("edu", edu)                                   // a device written in Java, in-process
 *         .device("mine", machine -> makeTheFunction(machine))  // any PciFunction
 *         .build()) {
 *     // load guest code into vm.memory(), set vm.vcpus() up, vm.vcpus().start(vm.space()) ...
 * }
 * }</pre>
 *
 * <p>With {@link Accelerator#KVM} the machine has a KVM VM with its in-kernel interrupt controller,
 * guest RAM and mapped BARs as memory slots, and its vCPUs created and runnable (their registers are
 * the caller's to set: nothing is loaded into the guest); MSIs go by KVM_SIGNAL_MSI and irqfds, INTx
 * through the in-kernel IOAPIC. With {@link Accelerator#NONE} there is no vCPU: virtual local APICs
 * ({@link #apics()}) and an emulated IOAPIC at 0xfec00000 take the interrupts, and the caller drives
 * the devices through the buses from the host.
 *
 * <p>Devices reach the machine through {@link MachineContext}: the address space, and the services
 * {@link GuestMemory}, {@link InterruptRouter}, {@link PciSysfs}, {@link DriverSide} (the guest on KVM,
 * the host without a vCPU) and the {@code -object iommufd}s ({@link IommufdObjects}, opened before
 * anything else, as QEMU opens its objects before its devices). A device is placed on the bus at
 * the first free slot (or the {@code addr=} its option gives), its INTx pin wired, and whatever it
 * handed to {@link MachineContext#onClose} closed with the machine. Its devices and their interrupt
 * vectors are MBeans in the platform MBean server while they exist, under {@code vm=} its
 * {@linkplain Builder#name name} ({@code io.jvfio:type=PciDevice,...} and
 * {@code io.jvfio:type=InterruptVector,...}; README, JMX). {@link #close()} first stops the
 * vCPUs that still run (none is then inside a device), then takes the machine apart in the reverse
 * order of building: devices, routing, RAM (its memory slots first), vCPUs, VM, and last the iommufds
 * (after the devices bound to them and their IOMMU address spaces); its MBeans are unregistered
 * before all that.
 *
 * <p>PCI Express hotplug, as QEMU's native PCIe hotplug: {@link #hotplug} creates a device as
 * {@code -device} does and puts it behind the root port its {@code bus=} names, whose slot raises
 * presence detect with the hotplug interrupt; {@link #requestUnplug} presses the slot's attention
 * button. When the guest turns the slot off (power controller and power indicator off), the device
 * leaves the bus, every resource its driver handed over is closed, and the
 * {@linkplain #onDeviceDeleted listeners} are told. A guest that never answers keeps the device.
 */
public final class VirtualMachine implements AutoCloseable {

    /** How the guest runs: on KVM vCPUs, or with none (the host drives the devices). */
    public enum Accelerator {
        KVM, NONE
    }

    private final GuestMemory memory = new GuestMemory();
    private final AddressSpace space = new AddressSpace();
    private final PciHostBridge bridge = new PciHostBridge(space, PciHostBridge.DEFAULT_ECAM_BASE);
    private final MemoryBackendConfig ram;
    private final Accelerator accelerator;
    private final int cpus;
    private final IommufdObjects iommufds;
    private final String name;
    private KvmMachine kvm;
    /** Guest RAM's KVM memory slots (null without KVM): KVM's dirty log of the vCPUs' writes, where it has one. */
    private DmaMappingListener slots;
    private MachineMBeans mbeans;
    private VirtualInterruptController apics;
    private IoApic ioapic;
    private InterruptRouter router;
    private AttachedDevices devices;
    /** Devices whose unplug was requested, with when another request may press the button again. */
    private final Map<AttachedDevices.Attached, Long> pendingUnplug = new HashMap<>();
    private final List<Consumer<AttachedDevices.Attached>> deletedListeners = new CopyOnWriteArrayList<>();

    private static final Logger LOG = LoggerFactory.getLogger(VirtualMachine.class);

    /**
     * How long a {@code device_del} stays pending before another may press the button again: QEMU's
     * {@code pending_deleted_expires_ms} for a PCI Express slot, 5 s (QEMU counts guest time, which stops
     * while the machine is paused; jvfio counts the host's monotonic clock).
     */
    public static final Duration UNPLUG_PENDING = Duration.ofSeconds(5);

    private VirtualMachine(String name, MemoryBackendConfig ram, Accelerator accelerator, int cpus,
            IommufdObjects iommufds) {
        this.name = name;
        this.iommufds = iommufds;
        this.ram = ram;
        this.accelerator = accelerator;
        this.cpus = cpus;
    }

    /** A builder with 128 MiB of RAM, KVM, one vCPU and no device. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Builds a machine with its iommufd objects, RAM, accelerator and vCPUs but no device yet: the
     * launcher's way, which attaches its {@code -device} options itself to report each failure as its
     * own. Closes what it built if a step fails.
     */
    public static VirtualMachine create(MemoryBackendConfig ram, Accelerator accelerator, int vcpus,
            List<IommufdConfig> iommufds) {
        return create(null, ram, accelerator, vcpus, iommufds);
    }

    /**
     * As {@link #create(MemoryBackendConfig, Accelerator, int, List)}, for a machine called {@code name}
     * (QEMU's {@code -name}; null for none), the {@code vm=} of its MBeans.
     */
    public static VirtualMachine create(String name, MemoryBackendConfig ram, Accelerator accelerator, int vcpus,
            List<IommufdConfig> iommufds) {
        // Opened first, as QEMU opens its objects before the devices: no /dev/iommu is the object's error.
        IommufdObjects objects = IommufdObjects.open(iommufds);
        VirtualMachine m = new VirtualMachine(name, ram, accelerator, vcpus, objects);
        try {
            m.assemble();
            return m;
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    private void assemble() {
        MemoryBackend backend = MemoryBackend.create(ram);
        try {
            // The ECAM window lies below 3 GiB: RAM over it would take the guest's config accesses on
            // KVM (memory slots win over exits), so RAM stays below it, as on QEMU's q35.
            X86RamLayout.install(memory, backend, bridge.ecamBase());
        } catch (RuntimeException e) {
            backend.close();
            throw e;
        }
        InterruptSink sink;
        if (accelerator == Accelerator.KVM) {
            kvm = KvmMachine.create(cpus);
            KvmVm vm = kvm.vm();
            slots = new KvmRamSlots(vm);
            memory.addListener(slots); // guest RAM as memory slots
            space.addListener(vm);                   // and BARs the device model maps
            sink = new KvmMsiSink(vm);
            router = new InterruptRouter(sink, InterruptRouterConfig.DEFAULT, new KvmIrqfdBypass(vm));
        } else {
            apics = new VirtualInterruptController(cpus);
            ioapic = new IoApic(apics);
            space.mmio().add("IOAPIC", IoApic.BASE, IoApic.SIZE, ioapic);
            router = new InterruptRouter(apics, InterruptRouterConfig.DEFAULT, null, ioapic);
            sink = apics;
        }
        // An emulated function's MSI (a root port's hotplug interrupt) is a write the sink delivers at once.
        MsiSignal msi = (address, data) -> sink.deliverMsi(address, data);
        // The guest turned a slot off: the device goes once its configuration write is over (outside the bus lock).
        PcieHotplugHandler hotplug = port -> bridge.afterConfigCycle(() -> released(port));
        // What the device drivers may ask for (DeviceDriver.create): DMA, interrupts, host PCI devices, and
        // who programs the devices (a no-IOMMU device is only for a driver on the host side).
        devices = new AttachedDevices(space, bridge).provide(GuestMemory.class, memory)
                .provide(InterruptRouter.class, router).provide(PciSysfs.class, PciSysfs.system())
                .provide(DriverSide.class, accelerator == Accelerator.KVM ? DriverSide.GUEST : DriverSide.HOST)
                .provide(IommufdObjects.class, iommufds).provide(MsiSignal.class, msi)
                .provide(PcieHotplugHandler.class, hotplug);
        // The statistics as MBeans, from the first route and device on.
        mbeans = MachineMBeans.open(name, router);
        devices.addListener(mbeans);
    }

    /**
     * Hot-adds the device {@code config} names (parsed and checked as {@code -device} is) behind the
     * root port its {@code bus=} names: created, placed at device 0 of the port's link, and announced to
     * the guest by the slot (presence detect changed, data link layer state changed, the hotplug
     * interrupt). Errors are QEMU's {@code device_add} ones: {@code Bus 'x' not found}, {@code Bus
     * 'pcie.0' does not support hotplugging}, a duplicate id, a taken slot, or the driver's own.
     */
    public AttachedDevices.Attached hotplug(DeviceConfig config) {
        return devices.attach(config, true);
    }

    /**
     * Asks the guest to let the device with {@code id=id} go: presses its slot's attention button, as
     * QEMU's {@code device_del} of a device on a PCI Express slot. Returns at once; the device goes when
     * the guest turns the slot off. Throws an {@link OptionsException} in QEMU's words if there is no
     * such device, it is on {@code pcie.0}, or a request for it is pending (for {@link #UNPLUG_PENDING}).
     */
    public void requestUnplug(String id) {
        AttachedDevices.Attached a = devices.find(id);
        if (a == null) {
            throw new OptionsException("Device '" + id + "' not found");
        }
        if (a.upstream() == null) {
            throw new OptionsException("Bus '" + AttachedDevices.ROOT_BUS + "' does not support hotplugging");
        }
        PcieRootPort port = (PcieRootPort) bridge.function(a.upstream());
        synchronized (pendingUnplug) {
            Long until = pendingUnplug.get(a);
            long now = System.nanoTime();
            if (until != null && now - until < 0) {
                throw new OptionsException("Device " + id + " is already in the process of unplug");
            }
            pendingUnplug.put(a, now + UNPLUG_PENDING.toNanos());
        }
        port.pressAttentionButton();
    }

    /** Whether the device with {@code id=id} has an unplug request the guest has not answered. */
    public boolean unplugPending(String id) {
        synchronized (pendingUnplug) {
            return pendingUnplug.keySet().stream().anyMatch(a -> id.equals(a.config().id()));
        }
    }

    /**
     * Calls {@code listener} with each device the guest let go, once it is off the bus and released
     * (QMP's {@code DEVICE_DELETED}); on the thread of the guest's configuration write.
     */
    public void onDeviceDeleted(Consumer<AttachedDevices.Attached> listener) {
        deletedListeners.add(Objects.requireNonNull(listener, "listener"));
    }

    /** The guest turned {@code port}'s slot off: the device behind it leaves and is released. */
    private void released(PcieRootPort port) {
        AttachedDevices.Attached p = devices.of(port);
        AttachedDevices.Attached child = p == null ? null : devices.behind(p.at());
        if (child == null) {
            return;
        }
        synchronized (pendingUnplug) {
            pendingUnplug.remove(child);
        }
        try {
            devices.detach(child);
        } catch (RuntimeException e) {
            // The device is off the bus whatever failed to close; the guest and the management layer go on.
            LOG.error("{}: releasing it after the guest turned its slot off: {}", child.config(), e.getMessage(), e);
        }
        for (Consumer<AttachedDevices.Attached> l : deletedListeners) {
            l.accept(child);
        }
    }

    /** Guest physical memory: RAM, and the DMA windows devices see. */
    public GuestMemory memory() {
        return memory;
    }

    /** The guest's MMIO and port I/O buses, where BARs and the ECAM window decode. */
    public AddressSpace space() {
        return space;
    }

    /** The PCI host bridge (bus 0), through which config space is read and written. */
    public PciHostBridge bridge() {
        return bridge;
    }

    /** The attached devices, and the context further devices attach through. */
    public AttachedDevices devices() {
        return devices;
    }

    /** Interrupt routing from the devices' MSI, MSI-X and INTx to the interrupt controller. */
    public InterruptRouter router() {
        return router;
    }

    public Accelerator accelerator() {
        return accelerator;
    }

    /** The number of vCPUs (local APICs without KVM), as built. */
    public int vcpuCount() {
        return cpus;
    }

    /** The vCPUs (created, runnable, registers unset) on KVM; null with {@link Accelerator#NONE}. */
    public Vcpus vcpus() {
        return kvm == null ? null : kvm.vcpus();
    }

    /** The KVM VM; null with {@link Accelerator#NONE}. */
    public KvmVm kvmVm() {
        return kvm == null ? null : kvm.vm();
    }

    /** The virtual local APICs with {@link Accelerator#NONE}; null on KVM, whose APICs are in the kernel. */
    public VirtualInterruptController apics() {
        return apics;
    }

    /** The name it was given; null for none. */
    public String name() {
        return name;
    }

    /** The {@code vm=} key of its MBeans: its name, or its number in this JVM for a machine without one. */
    public String mbeanName() {
        return mbeans.vm();
    }

    /**
     * One part of the machine that moves with it in a live migration: {@code name} names it in the stream
     * and in errors ({@code "machine"}, {@code "apics"}, {@code "ioapic"}, a device's {@code id=} or its
     * address {@code "00:03.0"}); {@code writesGuestMemory} says whether it may write guest RAM by itself
     * (a device's DMA), so that without a {@link Migratable#dirtyLog() dirty log} the whole of RAM goes again
     * while the machine is stopped.
     */
    public record Part(String name, Migratable part, boolean writesGuestMemory) {
        public Part {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(part, "part");
        }
    }

    /**
     * The machine's {@link Migratable} parts, in the order the stream carries them: first the machine's
     * own state (on KVM its vCPUs, irqchip and clock, {@link KvmMachine#snapshot}; without KVM the virtual
     * local APICs and the IOAPIC), then every attached device in bus order (root ports too), the host bridge's
     * function 00.0, and last the PCI host bridge (CONFIG_ADDRESS; its restore places the BARs). A part that cannot migrate is
     * there too, as a part whose {@link Migratable#migrationBlocker()} says why (a device that is no
     * {@link Migratable}: {@code device 'ID' (DRIVER) cannot migrate: ...}): {@code migrate} checks them
     * all before it starts.
     */
    public List<Part> migratables() {
        List<Part> parts = new ArrayList<>();
        if (kvm != null) {
            parts.add(new Part("machine", new KvmState(kvm, cpus), false));
        } else {
            parts.add(new Part("apics", controllerPart((Object) apics, "the virtual local APICs"), false));
            parts.add(new Part("ioapic", controllerPart((Object) ioapic, "the IOAPIC"), false));
        }
        for (AttachedDevices.Attached a : devices.attached()) {
            String name = deviceName(a);
            Object f = a.function();
            Migratable m = f instanceof Migratable mf ? mf : new Blocker("device '" + name + "' ("
                    + a.config().driver().name() + ") cannot migrate: " + f.getClass().getSimpleName()
                    + " has no migration support (remove it with device_del before migrate, or give the "
                    + "destination its own)", "unmigratable " + a.config().driver().name());
            // A root port forwards; it writes no guest memory of its own. Any other function may (DMA).
            parts.add(new Part(name, m, !(f instanceof PcieRootPort)));
        }
        // Bus 0's host bridge function, then the bridge itself last: its restore places every function's BARs
        // as the restored registers say, so it comes after every function's restore.
        PciFunction hostBridge = bridge.function(new PciDevFn(0, 0));
        parts.add(new Part("00:00.0", hostBridge instanceof Migratable m ? m : new Blocker("the host bridge (00:00.0) "
                + "cannot migrate", "unmigratable host bridge"), false));
        parts.add(new Part("pci", bridge, false));
        return parts;
    }

    /** A device's name in the migration stream: its {@code id=}, else its address on its bus. */
    private static String deviceName(AttachedDevices.Attached a) {
        if (a.config().id() != null) {
            return a.config().id();
        }
        return (a.upstream() == null ? "00:" : a.upstream() + "/") + a.at();
    }

    private static Migratable controllerPart(Object controller, String what) {
        if (controller instanceof Migratable m) {
            return m;
        }
        return new Blocker(what + " cannot migrate: " + (controller == null ? "none" : controller.getClass()
                .getSimpleName()) + " has no migration support in this build", "unmigratable " + what);
    }

    /**
     * The logs of guest pages the machine itself writes while it runs, for RAM pre-copy: the VMM's own
     * writes through {@link io.jvfio.memory.GuestRam} ({@link GuestMemory#writeLog()}) and, on KVM, the
     * vCPUs' (KVM's dirty log of the RAM slots). The parts' DMA logs are theirs ({@link Migratable#dirtyLog}).
     */
    public List<DirtyLog> dirtyLogs() {
        List<DirtyLog> logs = new ArrayList<>();
        logs.add(memory.writeLog());
        if (slots instanceof DirtyLog kvmLog) {
            logs.add(kvmLog);
        }
        return logs;
    }

    /**
     * Whether every writer of guest RAM that runs with the machine is logged: false on KVM while its memory
     * slots keep no dirty log, when only a copy of all of RAM at the stop is right.
     */
    public boolean vcpuWritesLogged() {
        return kvm == null || slots instanceof DirtyLog;
    }

    /** The KVM machine's state as one part: taken and loaded by {@link KvmMachine}, the vCPUs stopped. */
    private record KvmState(KvmMachine kvm, int vcpus) implements Migratable {
        @Override
        public String stateId() {
            return "kvm x86 " + vcpus + (vcpus == 1 ? " vCPU" : " vCPUs");
        }

        @Override
        public byte[] snapshot() {
            return kvm.snapshot();
        }

        @Override
        public void restore(byte[] state) {
            kvm.restore(state);
        }
    }

    /** A part that cannot migrate, saying why; nothing of it is ever sent. */
    private record Blocker(String reason, String stateId) implements Migratable {
        @Override
        public String migrationBlocker() {
            return reason;
        }

        @Override
        public byte[] snapshot() {
            throw new MigrationException(reason);
        }

        @Override
        public void restore(byte[] state) {
            throw new MigrationException(reason);
        }
    }

    /** The RAM's backend, as built. */
    public MemoryBackendConfig ram() {
        return ram;
    }

    @Override
    public void close() {
        // The vCPUs first: a vCPU still running could be inside a device's MMIO handler, or about to
        // signal a route, while they close. Their failure, if any, is thrown after everything is closed.
        RuntimeException vcpuFailure = null;
        if (kvm != null) {
            try {
                kvm.stopVcpus();
            } catch (RuntimeException e) {
                vcpuFailure = e;
            }
        }
        try {
            closeInOrder();
        } finally {
            if (vcpuFailure != null) {
                throw vcpuFailure;
            }
        }
    }

    private void closeInOrder() {
        if (mbeans != null) {
            mbeans.close(); // first: nothing of a machine being taken apart is left in the MBean server
        }
        if (devices != null) {
            devices.close();
        }
        if (router != null) {
            router.close();
        }
        memory.close();
        try {
            if (kvm != null) {
                kvm.close(); // the vCPUs (stopped above), the VM, /dev/kvm
            }
        } finally {
            iommufds.close();
        }
    }

    /** Collects the machine's shape; {@link #build} makes it. Not thread-safe. */
    public static final class Builder {

        private String name;
        private MemoryBackendConfig ram = MemoryBackendConfig.ram(128L << 20);
        private Accelerator accelerator = Accelerator.KVM;
        private int vcpus = 1;
        private DeviceRegistry registry;
        private final List<DeviceConfig> devices = new ArrayList<>();
        private final List<IommufdConfig> iommufds = new ArrayList<>();

        private Builder() {
        }

        /** Guest RAM from a backend ({@code memory-backend-memfd}, {@code -file}, {@code -ram}). Default: 128 MiB. */
        public Builder memory(MemoryBackendConfig backend) {
            this.ram = Objects.requireNonNull(backend, "backend");
            return this;
        }

        /** Guest RAM of {@code size} as {@code -m} takes it ({@code 512M}, {@code 1G}), anonymous memory. */
        public Builder memory(String size) {
            long bytes = OptionValues.bind("memory", List.of(Property.size("size", 1L << 20, null,
                    "guest RAM")), OptionString.parse(size, "size"), Set.of(),
                    OptionValues.UnknownKey.DEVICE_PROPERTY).number("size");
            return memory(MemoryBackendConfig.ram(bytes));
        }

        /** The machine's name (QEMU's {@code -name}): the {@code vm=} of its MBeans. Default: none (numbered). */
        public Builder name(String name) {
            this.name = Objects.requireNonNull(name, "name");
            return this;
        }

        public Builder accelerator(Accelerator accelerator) {
            this.accelerator = Objects.requireNonNull(accelerator, "accelerator");
            return this;
        }

        /** The number of vCPUs (or of local APICs without KVM); at least 1. */
        public Builder vcpus(int n) {
            if (n < 1) {
                throw new OptionsException("vcpus(" + n + "): a machine needs at least one vCPU");
            }
            this.vcpus = n;
            return this;
        }

        /**
         * An object as {@code -object} takes it: {@code iommufd,id=ID[,fd=N]}, for devices given
         * {@code iommufd=ID} (their cdevs bound to it, one IOMMU address space per iommufd). Guest RAM's
         * backend is {@link #memory(MemoryBackendConfig)}'s. A bad option, another object type or a
         * duplicate id throws an {@link OptionsException} that names it.
         */
        public Builder object(String option) {
            OptionString s = OptionString.parse(option, IommufdConfig.IMPLIED_KEY);
            if (!IommufdConfig.TYPE.equals(s.impliedValue())) {
                throw new OptionsException("object(\"" + option + "\"): the objects a builder takes are "
                        + IommufdConfig.TYPE + " (a memory backend is memory(MemoryBackendConfig.parse(...)))");
            }
            IommufdConfig o = IommufdConfig.parse(s);
            if (iommufds.stream().anyMatch(i -> i.id().equals(o.id()))) {
                throw new OptionsException("Duplicate ID '" + o.id() + "' for object");
            }
            iommufds.add(o);
            return this;
        }

        /** The registry {@link #device(String)} looks drivers up in; default: {@link DeviceRegistry#load()}. */
        public Builder registry(DeviceRegistry registry) {
            this.registry = Objects.requireNonNull(registry, "registry");
            return this;
        }

        /**
         * A device as {@code -device} takes it ({@code vfio-user-pci,socket=/run/edu.sock,addr=04.0}),
         * checked now against its driver's properties: a bad option throws an {@link OptionsException}
         * that names it.
         */
        public Builder device(String option) {
            if (registry == null) {
                registry = DeviceRegistry.load();
            }
            devices.add(registry.parse(option));
            return this;
        }

        /**
         * A device object: {@code create} makes the function when the machine is built, from the
         * machine's context (guest memory, the interrupt router, the address space): any
         * {@link PciFunction} ({@link #device(String, EmulatedDevice)} is this for a device written in
         * Java). It is placed at the first free slot; what it hands to {@link MachineContext#onClose} is
         * closed with the machine. {@code name} names it in errors.
         */
        public Builder device(String name, Function<MachineContext, PciFunction> create) {
            Objects.requireNonNull(create, "create");
            DeviceDriver driver = new ObjectDriver(Objects.requireNonNull(name, "name"), create);
            devices.add(new DeviceConfig(driver, null, OptionValues.bind(name, List.of(), OptionString.parse("",
                    null), Set.of(), OptionValues.UnknownKey.DEVICE_PROPERTY)));
            return this;
        }

        /**
         * A device written in Java (an {@link EmulatedDevice}, such as {@code EduDevice}) hosted in this
         * process: behind an {@link InProcessBackend}, the guest sees it through the same passthrough
         * device model ({@link PassthroughDevice}) as a vfio-user or kernel VFIO device, its DMA reaching
         * guest memory and its interrupts the router. The back end and the model close with the
         * machine; {@code device} itself stays the caller's to close.
         */
        public Builder device(String name, EmulatedDevice device) {
            Objects.requireNonNull(device, "device");
            return device(name, machine -> {
                InProcessBackend backend = InProcessBackend.attach(name, device, machine.require(GuestMemory.class));
                machine.onClose(backend);
                PassthroughDevice function = new PassthroughDevice(name, backend, PassthroughOptions.DEFAULT,
                        machine.space(), machine.require(InterruptRouter.class));
                machine.onClose(function);
                return function;
            });
        }

        /** Builds the machine and attaches the devices in order; if any step fails, what was built is closed. */
        public VirtualMachine build() {
            VirtualMachine m = create(name, ram, accelerator, vcpus, iommufds);
            try {
                for (DeviceConfig d : devices) {
                    m.devices.attach(d);
                }
                return m;
            } catch (RuntimeException e) {
                m.close();
                throw e;
            }
        }
    }

    /** A device given as an object: a driver of one device, with no properties (so no {@code addr=}). */
    private record ObjectDriver(String name, Function<MachineContext, PciFunction> create) implements DeviceDriver {

        @Override
        public String description() {
            return "a device object given to VirtualMachine.Builder";
        }

        @Override
        public List<Property> properties() {
            return List.of();
        }

        @Override
        public PciFunction create(DeviceConfig config, MachineContext machine) {
            return create.apply(machine);
        }
    }
}
