package io.jvfio.vmm.device;

import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.options.Property;
import io.jvfio.vmm.pci.PciBridgeFunction;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciFunction;
import io.jvfio.vmm.pci.PciHostBridge;
import io.jvfio.vmm.pci.PciIntxRouting;
import io.jvfio.vmm.pci.PciRegs;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The devices of one VM, whatever driver made them: each {@code -device} option's driver creates its
 * function ({@link DeviceDriver#create}), which is placed on the host bridge at its {@code addr=}
 * ({@link PciDeviceProperties}) or behind the bridge its {@code bus=} names, its INTx pin wired to the
 * board's line for its slot ({@link PciIntxRouting}), and remembered. It is also the
 * {@link MachineContext} the drivers see: the services the machine {@linkplain #provide provides}, the
 * per-VM shared resources, and the resources to close.
 *
 * <p>Each device has its own scope: what its driver handed to {@link MachineContext#onClose} is closed
 * when the device goes ({@link #detach}, a hot-unplug) or the machine closes, in the reverse order it
 * was handed over. The shared resources ({@link MachineContext#shared}) outlive every device and close
 * last. A device that fails to attach has what it handed over (and the shared resources it made)
 * closed at once, and leaves the others as they were.
 */
public final class AttachedDevices implements AutoCloseable {

    /** The name of bus 0, as QEMU's q35 calls its root bus. */
    public static final String ROOT_BUS = "pcie.0";

    /**
     * One device: the function the guest sees, where it sits on its bus, the option that made it, and
     * the bridge on bus 0 it is behind ({@code upstream}, null on bus 0).
     */
    public record Attached(PciFunction function, PciDevFn at, DeviceConfig config, PciDevFn upstream) {
    }

    private final AddressSpace space;
    private final PciHostBridge bridge;
    private final Map<Class<?>, Object> services = new HashMap<>();
    private final Map<Class<?>, Object> shared = new HashMap<>();
    private final Deque<AutoCloseable> sharedClosers = new ArrayDeque<>();
    private final List<Attached> attached = new ArrayList<>();
    private final Map<Attached, Scope> scopes = new HashMap<>();

    public AttachedDevices(AddressSpace space, PciHostBridge bridge) {
        this.space = space;
        this.bridge = bridge;
    }

    /** Offers {@code service} to the drivers as {@code type} ({@link MachineContext#require}). */
    public synchronized <T> AttachedDevices provide(Class<T> type, T service) {
        services.put(type, type.cast(service));
        return this;
    }

    /** Creates the device {@code config} names with its driver, places it and wires it, as the machine is built. */
    public Attached attach(DeviceConfig config) {
        return attach(config, false);
    }

    /**
     * Creates the device {@code config} names, places it and wires it; {@code hotplugged}: while the
     * machine runs, which only a hotplug slot takes ({@code bus=} a root port: its slot signals the
     * guest), as QEMU's {@code device_add}. Errors are QEMU's where QEMU has one.
     */
    public synchronized Attached attach(DeviceConfig config, boolean hotplugged) {
        String busName = declares(config, PciDeviceProperties.BUS)
                ? config.properties().string(PciDeviceProperties.BUS.name()) : null;
        PciDevFn upstream = null;
        if (busName == null || busName.equals(ROOT_BUS)) {
            if (hotplugged) {
                throw new OptionsException("Bus '" + ROOT_BUS + "' does not support hotplugging (give bus= the id"
                        + " of a pcie-root-port)");
            }
        } else {
            Attached port = find(busName);
            if (port == null || !(port.function() instanceof PciBridgeFunction) || port.upstream() != null) {
                throw new OptionsException("Bus '" + busName + "' not found");
            }
            upstream = port.at();
        }
        if (config.id() != null && find(config.id()) != null) {
            throw new OptionsException("Duplicate ID '" + config.id() + "' for device");
        }
        PciDevFn requested = declares(config, PciDeviceProperties.ADDR)
                ? config.properties().pciDevFn(PciDeviceProperties.ADDR.name()) : null;
        if (upstream != null && requested != null && requested.slot() != 0) {
            throw new OptionsException("PCI: slot " + requested.slot() + " is not valid for " + config.driver().name()
                    + ", parent device only allows plugging into slot 0.");
        }
        if (upstream != null && bridge.behind(upstream) != null) {
            throw new OptionsException("PCI: slot 0 function 0 not available for " + config.driver().name()
                    + ", in use by " + describe(behind(upstream)));
        }
        Scope scope = new Scope();
        try {
            PciFunction f = config.driver().create(config, scope);
            if (f == null) {
                throw new IllegalStateException("device driver " + config.driver().name() + " ("
                        + config.driver().getClass().getName() + ") created no device");
            }
            boolean multifunction = declares(config, PciDeviceProperties.MULTIFUNCTION)
                    && config.properties().bool(PciDeviceProperties.MULTIFUNCTION.name());
            PciDevFn at;
            int intxSlot;
            if (upstream == null) {
                at = bridge.add(requested, multifunction, f, config.driver().name());
                intxSlot = at.slot();
            } else {
                if (f instanceof PciBridgeFunction) {
                    throw new OptionsException(config.driver().name() + " behind " + busName + ": jvfio routes one"
                            + " level of bridges; put it on bus=" + ROOT_BUS);
                }
                at = new PciDevFn(0, 0);
                // Device 0 behind the bridge: its pins reach the bridge's own pins unswizzled (PCI-to-PCI
                // bridge specification 9.1), which the board routes by the bridge's slot.
                intxSlot = upstream.slot();
            }
            int pin = f.readConfig(PciRegs.PCI_INTERRUPT_PIN, 1);
            if (pin >= 1 && pin <= 4) {
                f.wireIntx(PciIntxRouting.gsi(intxSlot, pin));
            }
            Attached a = new Attached(f, at, config, upstream);
            if (upstream != null) {
                bridge.addBehind(upstream, f, config.driver().name(), hotplugged);
            }
            attached.add(a);
            scopes.put(a, scope);
            scope.commit();
            return a;
        } catch (RuntimeException e) {
            RuntimeException failure = scope.close(e);
            throw failure;
        }
    }

    private static String describe(DeviceConfig config) {
        return config.driver().name() + (config.id() != null ? ",id=" + config.id() : "");
    }

    private static String describe(Attached a) {
        return a == null ? "another device" : describe(a.config());
    }

    private static boolean declares(DeviceConfig config, Property p) {
        for (Property q : config.driver().properties()) {
            if (q.name().equals(p.name())) {
                return true;
            }
        }
        return false;
    }

    /** The attached devices, in the order they were attached. */
    public synchronized List<Attached> attached() {
        return List.copyOf(attached);
    }

    /** The device with {@code id=id}, or null. */
    public synchronized Attached find(String id) {
        for (Attached a : attached) {
            if (id.equals(a.config().id())) {
                return a;
            }
        }
        return null;
    }

    /** The device behind the bridge at {@code bridgeAt} on bus 0, or null. */
    public synchronized Attached behind(PciDevFn bridgeAt) {
        for (Attached a : attached) {
            if (bridgeAt.equals(a.upstream())) {
                return a;
            }
        }
        return null;
    }

    /** The attached device whose function is {@code f}, or null. */
    public synchronized Attached of(PciFunction f) {
        for (Attached a : attached) {
            if (a.function() == f) {
                return a;
            }
        }
        return null;
    }

    /**
     * Takes a device behind a bridge away (a hot-unplug the guest has agreed to): off its bus, its BARs
     * unmapped, then every resource its driver handed over closed, newest first; the first failure is
     * thrown at the end, after all were tried.
     */
    public void detach(Attached a) {
        if (a.upstream() == null) {
            throw new IllegalArgumentException(describe(a.config()) + " is on " + ROOT_BUS
                    + ", which does not support hotplugging");
        }
        Scope scope;
        synchronized (this) {
            if (!attached.remove(a)) {
                return;
            }
            scope = scopes.remove(a);
            bridge.removeBehind(a.upstream());
        }
        RuntimeException failure = scope.close(null);
        if (failure != null) {
            throw failure;
        }
    }

    /** Closes every device's resources, newest device first, then the shared ones; the first failure is thrown at the end. */
    @Override
    public void close() {
        List<Scope> all = new ArrayList<>();
        Deque<AutoCloseable> sharedToClose;
        synchronized (this) {
            for (int i = attached.size() - 1; i >= 0; i--) {
                all.add(scopes.remove(attached.get(i)));
            }
            attached.clear();
            sharedToClose = new ArrayDeque<>(sharedClosers);
            sharedClosers.clear();
        }
        RuntimeException failure = null;
        for (Scope s : all) {
            failure = join(failure, s.close(null));
        }
        failure = join(failure, closeAll(sharedToClose, null));
        if (failure != null) {
            throw failure;
        }
    }

    private static RuntimeException join(RuntimeException first, RuntimeException next) {
        if (first == null) {
            return next;
        }
        if (next != null) {
            first.addSuppressed(next);
        }
        return first;
    }

    /** Closes {@code closers} newest first; failures join {@code cause}, or the first becomes the one returned. */
    private static RuntimeException closeAll(Deque<AutoCloseable> closers, RuntimeException cause) {
        RuntimeException failure = cause;
        while (!closers.isEmpty()) {
            try {
                closers.pop().close();
            } catch (Exception e) {
                if (failure == null) {
                    failure = e instanceof RuntimeException r ? r : new IllegalStateException(e.getMessage(), e);
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        return failure;
    }

    /** One device's view of the machine, and the resources it handed over. */
    private final class Scope implements MachineContext {
        private final Deque<AutoCloseable> closers = new ArrayDeque<>();
        /** Shared resources this device's attach made, closed with it if the attach fails. */
        private final Deque<AutoCloseable> madeShared = new ArrayDeque<>();

        /** The attach succeeded: what it made for all devices joins the machine's shared resources. */
        void commit() {
            synchronized (AttachedDevices.this) {
                while (!madeShared.isEmpty()) {
                    sharedClosers.push(madeShared.pollLast());
                }
            }
        }

        /** Closes the device's resources, then shared ones its failed attach made; returns the failure. */
        RuntimeException close(RuntimeException cause) {
            RuntimeException failure = closeAll(closers, cause);
            Deque<AutoCloseable> made;
            synchronized (AttachedDevices.this) {
                made = new ArrayDeque<>(madeShared);
                madeShared.clear();
            }
            return closeAll(made, failure);
        }

        @Override
        public AddressSpace space() {
            return space;
        }

        @Override
        public <T> T require(Class<T> service) {
            synchronized (AttachedDevices.this) {
                Object s = services.get(service);
                if (s == null) {
                    throw new IllegalStateException("this machine offers no " + service.getSimpleName()
                            + " to its devices (the machine provides " + names() + ")");
                }
                return service.cast(s);
            }
        }

        private List<String> names() {
            return services.keySet().stream().map(Class::getSimpleName).sorted().toList();
        }

        @Override
        public <T> T shared(Class<T> key, Supplier<? extends T> make) {
            synchronized (AttachedDevices.this) {
                Object s = shared.get(key);
                if (s == null) {
                    T made = key.cast(make.get());
                    shared.put(key, made);
                    // Forgotten when closed, so a device that failed to attach leaves none half-made.
                    madeShared.push(() -> {
                        synchronized (AttachedDevices.this) {
                            shared.remove(key);
                        }
                        if (made instanceof AutoCloseable c) {
                            c.close();
                        }
                    });
                    return made;
                }
                return key.cast(s);
            }
        }

        @Override
        public void onClose(AutoCloseable resource) {
            synchronized (AttachedDevices.this) {
                closers.push(resource);
            }
        }
    }
}
