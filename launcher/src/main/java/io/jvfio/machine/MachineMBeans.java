package io.jvfio.machine;

import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.jmx.InterruptVectorMBeans;
import io.jvfio.irq.jmx.JmxNames;
import io.jvfio.vmm.device.AttachedDevices;
import io.jvfio.vmm.options.OptionsException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.management.JMException;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A machine's MBeans in the platform MBean server: one a device ({@link PciDeviceMXBean}) and one an
 * interrupt vector ({@link InterruptVectorMBeans}), all under {@code vm=} the machine's name (or, for a
 * machine without one, its number in this JVM: 1, 2 ...), unregistered at {@link #close()}.
 *
 * <p>Which device a route belongs to is read from its name, which the device model makes
 * ({@code <function name> MSI-X 3}, {@code <function name> MSI 0}, {@code <function name> INTx}), and
 * the devices this object has been told of; it keeps its own copy of them so that naming a route takes
 * no lock of the devices' (a route may be added by a vCPU thread while a device is being attached).
 */
final class MachineMBeans implements AttachedDevices.Listener, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(MachineMBeans.class);
    private static final AtomicInteger UNNAMED = new AtomicInteger();

    private final MBeanServer server = ManagementFactory.getPlatformMBeanServer();
    private final String vm;
    /** Function name -> the device's key ({@code id=} or address), for the devices attached so far. */
    private final Map<String, String> deviceKeys = new ConcurrentHashMap<>();
    private final List<ObjectName> devices = new CopyOnWriteArrayList<>();
    private InterruptVectorMBeans vectors;

    private MachineMBeans(String vm) {
        this.vm = vm;
    }

    /**
     * Starts registering the MBeans of a machine called {@code name} (null: numbered), its routes' from
     * now on and its devices' once {@code devices} is attached to ({@link AttachedDevices#addListener}).
     *
     * @throws OptionsException if a machine of that name has MBeans in this JVM already
     */
    static MachineMBeans open(String name, InterruptRouter router) {
        String vm = name != null ? name : Integer.toString(UNNAMED.incrementAndGet());
        MachineMBeans m = new MachineMBeans(vm);
        if (name != null && !m.server.queryNames(JmxNames.pattern("vm", vm), null).isEmpty()) {
            throw new OptionsException("a machine named '" + name + "' is already running in this JVM, with its "
                    + "MBeans under vm=" + vm + ": give each machine its own name");
        }
        m.vectors = InterruptVectorMBeans.register(m.server, router, vm, m::source);
        return m;
    }

    /** The {@code vm=} key of this machine's MBeans. */
    String vm() {
        return vm;
    }

    private InterruptVectorMBeans.Source source(InterruptRoute route) {
        String name = route.name();
        int cut = name.lastIndexOf(' ');
        if (cut < 0) {
            return null;
        }
        String last = name.substring(cut + 1);
        String function;
        int vector;
        if (last.equals("INTx")) {
            function = name.substring(0, cut);
            vector = 0;
        } else {
            try {
                vector = Integer.parseInt(last);
            } catch (NumberFormatException e) {
                return null;
            }
            String rest = name.substring(0, cut);
            int kind = rest.lastIndexOf(' ');
            if (kind < 0) {
                return null;
            }
            function = rest.substring(0, kind);
        }
        String device = deviceKeys.get(function);
        return device == null ? null : new InterruptVectorMBeans.Source(device, vector);
    }

    /** Its id, else where it sits: {@code 04.0} on bus 0, {@code 04.0/00.0} behind the bridge at 04.0. */
    static String deviceKey(AttachedDevices.Attached a) {
        if (a.config().id() != null) {
            return a.config().id();
        }
        return a.upstream() == null ? a.at().toString() : a.upstream() + "/" + a.at();
    }

    @Override
    public void attached(AttachedDevices.Attached a) {
        String key = deviceKey(a);
        deviceKeys.put(a.function().name(), key);
        ObjectName n = JmxNames.of("PciDevice", "vm", vm, "device", key);
        String id = a.config().id() == null ? "" : a.config().id();
        String driver = a.config().driver().name();
        String address = a.upstream() == null ? "00:" + a.at() : "behind 00:" + a.upstream() + ", " + a.at();
        String what = a.function().name();
        try {
            server.registerMBean(new PciDeviceMXBean() {
                @Override
                public String getId() {
                    return id;
                }

                @Override
                public String getDriver() {
                    return driver;
                }

                @Override
                public String getAddress() {
                    return address;
                }

                @Override
                public String getName() {
                    return what;
                }
            }, n);
            devices.add(n);
        } catch (JMException e) {
            LOG.warn("the MBean {} of device {} could not be registered: {}", n, what, e.toString());
        }
        vectors.retry();
    }

    /** A hot-unplugged device's MBean goes with it (its vectors' went with their routes). */
    @Override
    public void detached(AttachedDevices.Attached a) {
        ObjectName n = JmxNames.of("PciDevice", "vm", vm, "device", deviceKey(a));
        deviceKeys.remove(a.function().name());
        if (devices.remove(n)) {
            JmxNames.unregister(server, n);
        }
    }

    /** Unregisters every MBean of the machine. */
    @Override
    public void close() {
        vectors.close();
        for (ObjectName n : devices) {
            JmxNames.unregister(server, n);
        }
        devices.clear();
    }
}
