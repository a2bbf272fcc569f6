package io.jvfio.irq.jmx;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.management.InstanceNotFoundException;
import javax.management.JMException;
import javax.management.MBeanServer;
import javax.management.MalformedObjectNameException;
import javax.management.ObjectName;

/**
 * jvfio's MBean names: the {@code io.jvfio} domain, then {@code type=} first and the keys from the
 * container down to the thing ({@code vm}, {@code device}, ...), as the JDK's own
 * ({@code java.lang:type=GarbageCollector,name=...}) and Kafka's and Cassandra's MBeans are named, so that
 * JConsole shows a tree by type and a JMX exporter turns the keys into labels. A value with a character
 * ObjectName reserves ({@code , = : " * ?} or a newline) is quoted; ids and PCI addresses never need it.
 */
public final class JmxNames {

    private static final Logger LOG = LoggerFactory.getLogger(JmxNames.class);

    /** The domain of every jvfio MBean. */
    public static final String DOMAIN = "io.jvfio";

    private JmxNames() {
    }

    /** {@code io.jvfio:type=TYPE,k1=v1,k2=v2...}; {@code keysAndValues} alternate, in the order shown. */
    public static ObjectName of(String type, String... keysAndValues) {
        return parse(DOMAIN + ":type=" + type + keys(keysAndValues));
    }

    /**
     * Unregisters {@code name} from {@code server}: one already gone (a JMX client may unregister it) is
     * gone either way, and a failure is logged, not thrown (statistics are an aid; the machine goes on).
     */
    public static void unregister(MBeanServer server, ObjectName name) {
        try {
            server.unregisterMBean(name);
        } catch (InstanceNotFoundException e) {
            // unregistered by someone else: gone either way
        } catch (JMException e) {
            LOG.warn("the MBean {} could not be unregistered: {}", name, e.toString());
        }
    }

    /** The pattern of every jvfio MBean with these keys, whatever its type and other keys. */
    public static ObjectName pattern(String... keysAndValues) {
        String keys = keys(keysAndValues);
        return parse(DOMAIN + ":" + (keys.isEmpty() ? "*" : keys.substring(1) + ",*"));
    }

    private static String keys(String... keysAndValues) {
        if (keysAndValues.length % 2 != 0) {
            throw new IllegalArgumentException("keys and values alternate: " + String.join(",", keysAndValues));
        }
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            b.append(',').append(keysAndValues[i]).append('=').append(value(keysAndValues[i + 1]));
        }
        return b.toString();
    }

    /** {@code v} as an ObjectName value: as it is, or quoted if it holds a reserved character. */
    static String value(String v) {
        for (int i = 0; i < v.length(); i++) {
            if (",=:\"*?\n\\".indexOf(v.charAt(i)) >= 0) {
                return ObjectName.quote(v);
            }
        }
        return v.isEmpty() ? ObjectName.quote(v) : v;
    }

    private static ObjectName parse(String name) {
        try {
            return new ObjectName(name);
        } catch (MalformedObjectNameException e) {
            throw new IllegalArgumentException("not an MBean name: " + name + " (" + e.getMessage() + ")", e);
        }
    }
}
