package io.jvfio.launcher;

import io.jvfio.JvfioException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One exception root: every exception type in the main classes of the modules the launcher sees
 * (vmm-core, guest-memory, irq-routing, vfio-passthrough, the launcher) extends
 * {@link JvfioException}, so that {@code catch (JvfioException e)} means "any jvfio failure". The
 * classes are scanned, not listed, so that a new exception type cannot forget the root.
 */
class ExceptionRootTest {

    private static final Set<String> MODULES = Set.of("vmm-core", "guest-memory", "irq-routing",
            "vfio-passthrough", "launcher");
    /** A checked exception private to the command line (a bad option), reported there; it never leaves it. */
    private static final Set<String> OUTSIDE_THE_ROOT = Set.of("io.jvfio.launcher.UsageException");

    @Test
    void everyExceptionTypeIsAJvfioException() throws IOException, ClassNotFoundException {
        Set<String> exceptions = new TreeSet<>();
        List<String> strays = new ArrayList<>();
        Map<String, Path> modules = ProjectClasses.mainClasses(MODULES);
        for (Path classes : modules.values()) {
            for (String name : ProjectClasses.classNames(classes)) {
                Class<?> c = Class.forName(name, false, ExceptionRootTest.class.getClassLoader());
                if (!Throwable.class.isAssignableFrom(c) || c == JvfioException.class) {
                    continue;
                }
                exceptions.add(c.getName());
                if (!JvfioException.class.isAssignableFrom(c) && !OUTSIDE_THE_ROOT.contains(c.getName())) {
                    strays.add(c.getName() + " extends " + c.getSuperclass().getName());
                }
            }
        }
        assertEquals(MODULES, modules.keySet(), "the main classes of every module on the test class path (run through "
                + "the reactor: mvn -pl launcher -am)");
        // A scan that found nothing would pass: it must find the types the issue names.
        for (String expected : List.of("io.jvfio.vmm.linux.SyscallException", "io.jvfio.vmm.bus.BusException",
                "io.jvfio.vmm.pci.PciPlacementException", "io.jvfio.vmm.options.OptionsException",
                "io.jvfio.kvm.KvmVcpu$VcpuException", "io.jvfio.memory.GuestMemoryException",
                "io.jvfio.vfio.VfioException", "io.jvfio.vfio.VfioException$GroupNotViable",
                "io.jvfio.vfio.VfioException$GroupBusy", "io.jvfio.vfio.VfioException$ResetNotSupported",
                "io.jvfio.vfio.user.protocol.VfioUserException",
                "io.jvfio.launcher.driver.DriverTarget$DeviceGoneException")) {
            assertTrue(exceptions.contains(expected), "the scan did not find " + expected + " among " + exceptions);
        }
        assertTrue(strays.isEmpty(), "every jvfio exception type extends io.jvfio.JvfioException (or a type "
                + "beneath it), so that catch (JvfioException e) catches it; these do not: " + strays);
    }
}
