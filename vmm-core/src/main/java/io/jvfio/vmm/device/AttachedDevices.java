package io.jvfio.vmm.device;

import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.options.Property;
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
 * ({@link PciDeviceProperties}), its INTx pin wired to the board's line for its slot
 * ({@link PciIntxRouting}), and remembered. It is also the {@link MachineContext} the drivers see: the
 * services the machine {@linkplain #provide provides}, the per-VM shared resources, and the resources
 * to close. Closing closes them all in the reverse order they were handed over; a device that fails
 * to attach has what it handed over closed at once, and leaves the others as they were.
 */
public final class AttachedDevices implements AutoCloseable {

    /** One device: the function the guest sees, where it sits, and the option that made it. */
    public record Attached(PciFunction function, PciDevFn at, DeviceConfig config) {
    }

    /**
     * Told of each device once it is placed, wired and in {@link #attached()}: called with this object's
     * lock held, on the attaching thread; a listener does little and attaches nothing.
     */
    public interface Listener {
        void attached(Attached device);
    }

    private final AddressSpace space;
    private final PciHostBridge bridge;
    private final Map<Class<?>, Object> services = new HashMap<>();
    private final Map<Class<?>, Object> shared = new HashMap<>();
    private final Deque<AutoCloseable> closers = new ArrayDeque<>();
    private final List<Attached> attached = new ArrayList<>();
    private final List<Listener> listeners = new ArrayList<>();
    private final Context context = new Context();

    public AttachedDevices(AddressSpace space, PciHostBridge bridge) {
        this.space = space;
        this.bridge = bridge;
    }

    /** Offers {@code service} to the drivers as {@code type} ({@link MachineContext#require}). */
    public synchronized <T> AttachedDevices provide(Class<T> type, T service) {
        services.put(type, type.cast(service));
        return this;
    }

    /** Creates the device {@code config} names with its driver, places it and wires it. */
    public synchronized Attached attach(DeviceConfig config) {
        int mark = closers.size();
        try {
            PciFunction f = config.driver().create(config, context);
            if (f == null) {
                throw new IllegalStateException("device driver " + config.driver().name() + " ("
                        + config.driver().getClass().getName() + ") created no device");
            }
            PciDevFn requested = declares(config, PciDeviceProperties.ADDR)
                    ? config.properties().pciDevFn(PciDeviceProperties.ADDR.name()) : null;
            boolean multifunction = declares(config, PciDeviceProperties.MULTIFUNCTION)
                    && config.properties().bool(PciDeviceProperties.MULTIFUNCTION.name());
            PciDevFn at = bridge.add(requested, multifunction, f, config.driver().name());
            int pin = f.readConfig(PciRegs.PCI_INTERRUPT_PIN, 1);
            if (pin >= 1 && pin <= 4) {
                f.wireIntx(PciIntxRouting.gsi(at.slot(), pin));
            }
            Attached a = new Attached(f, at, config);
            attached.add(a);
            for (Listener l : listeners) {
                l.attached(a);
            }
            return a;
        } catch (RuntimeException e) {
            closeDownTo(mark, e);
            throw e;
        }
    }

    private static boolean declares(DeviceConfig config, Property p) {
        for (Property q : config.driver().properties()) {
            if (q.name().equals(p.name())) {
                return true;
            }
        }
        return false;
    }

    /** {@code listener} is told of every device attached so far, and of each attached from now on. */
    public synchronized void addListener(Listener listener) {
        for (Attached a : attached) {
            listener.attached(a);
        }
        listeners.add(listener);
    }

    /** The attached devices, in the order they were attached. */
    public synchronized List<Attached> attached() {
        return List.copyOf(attached);
    }

    /** Closes every resource the drivers handed over, newest first; the first failure is thrown at the end. */
    @Override
    public synchronized void close() {
        attached.clear();
        RuntimeException failure = closeDownTo(0, null);
        if (failure != null) {
            throw failure;
        }
    }

    /** Closes the resources above {@code mark}; failures join {@code cause}, or the first becomes the one returned. */
    private RuntimeException closeDownTo(int mark, RuntimeException cause) {
        RuntimeException failure = cause;
        while (closers.size() > mark) {
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
        return cause == null ? failure : null;
    }

    private final class Context implements MachineContext {
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
                    closers.push(() -> {
                        shared.remove(key);
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
