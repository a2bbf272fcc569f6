package io.jvfio.launcher;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.spi.ToolProvider;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The layout's rules, read from the compiled classes of every module the launcher sees (vmm-core,
 * guest-memory, irq-routing, vfio-passthrough and the launcher itself) by the JDK's jdeps, so that a
 * dependency through a signature counts as much as one through an import: no package cycles among
 * io.jvfio.*, the vfio-user transports and kernel VFIO never see the passthrough device model, the
 * device-writing API never sees the vfio-user client or server, and vmm-core sees no other module.
 * Benchmarks is not on the launcher's class path; nothing depends on it.
 */
class PackageCyclesTest {

    private static final Set<String> MODULES = Set.of("vmm-core", "guest-memory", "irq-routing",
            "vfio-passthrough", "launcher");
    private static final Pattern EDGE = Pattern.compile("^\\s+(io\\.jvfio\\.\\S+)\\s+->\\s+(io\\.jvfio\\.\\S+)\\s");

    /** Package -> package, with the class-level edges behind it (e.g. "PciSysfs -> VfioException"). */
    private static final Map<String, Map<String, Set<String>>> GRAPH = new TreeMap<>();
    /** Package -> the module (directory below the repository) whose classes hold it. */
    private static final Map<String, String> MODULE_OF = new HashMap<>();

    @TempDir
    static Path classCopies;

    @BeforeAll
    static void readTheClasses() throws IOException {
        Map<String, Path> modules = ProjectClasses.mainClasses(MODULES);
        assertEquals(MODULES, modules.keySet(), "the main classes of every module on the test class path "
                + System.getProperty("java.class.path") + " (run through the reactor: mvn -pl launcher -am)");
        for (Map.Entry<String, Path> m : modules.entrySet()) {
            for (String pkg : packagesIn(m.getValue())) {
                MODULE_OF.put(pkg, m.getKey());
            }
        }
        ToolProvider jdeps = ToolProvider.findFirst("jdeps").orElseThrow(() -> new AssertionError(
                "this JDK (" + System.getProperty("java.home") + ") has no jdeps: run the tests on a full JDK 17"));
        List<String> args = new ArrayList<>(List.of("-verbose:class", "-e", "io\\.jvfio\\..*"));
        for (Map.Entry<String, Path> m : modules.entrySet()) {
            args.add(withoutModuleDescriptor(m.getValue(), classCopies.resolve(m.getKey())).toString());
        }
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int status = jdeps.run(new PrintWriter(out), new PrintWriter(err), args.toArray(String[]::new));
        assertEquals(0, status, "jdeps " + args + " failed: " + err);
        for (String line : out.toString().split("\n")) {
            Matcher e = EDGE.matcher(line);
            if (!e.find()) {
                continue;
            }
            String from = packageOf(e.group(1));
            String to = packageOf(e.group(2));
            if (!from.equals(to)) {
                GRAPH.computeIfAbsent(from, k -> new TreeMap<>()).computeIfAbsent(to, k -> new TreeSet<>())
                        .add(simpleName(e.group(1)) + " -> " + simpleName(e.group(2)));
            }
        }
        // A graph read wrongly would pass every rule: it must hold an edge every build has.
        assertTrue(GRAPH.getOrDefault("io.jvfio.launcher", Map.of()).containsKey("io.jvfio.vmm.pci"),
                "jdeps found no io.jvfio.launcher -> io.jvfio.vmm.pci edge; its output was:\n" + out);
    }

    @Test
    void noPackageCycles() {
        List<String> cycles = new ArrayList<>();
        for (Set<String> component : stronglyConnected()) {
            StringBuilder b = new StringBuilder("a cycle among " + component + ":");
            for (String from : component) {
                GRAPH.getOrDefault(from, Map.of()).forEach((to, classes) -> {
                    if (component.contains(to)) {
                        b.append("\n    ").append(from).append(" -> ").append(to).append(": ").append(classes);
                    }
                });
            }
            cycles.add(b.toString());
        }
        if (!cycles.isEmpty()) {
            fail("packages must depend one way (README, Layout of the repository); move a class or an "
                    + "interface so that one of these edges goes away:\n" + String.join("\n", cycles));
        }
    }

    @Test
    void vfioTransportsNeverSeeTheDeviceModel() {
        forbid(p -> p.startsWith("io.jvfio.vfio.user.") || p.equals("io.jvfio.vfio.kernel"),
                p -> p.equals("io.jvfio.vfio.passthrough") || p.startsWith("io.jvfio.vfio.passthrough."),
                "the vfio-user protocol, its transport, client and server, and kernel VFIO are back ends of the "
                        + "passthrough device model (a VfioBackend), never its users");
    }

    @Test
    void deviceApiNeverSeesClientOrServer() {
        forbid(p -> p.equals("io.jvfio.vfio.emulated") || p.startsWith("io.jvfio.vfio.emulated."),
                p -> p.equals("io.jvfio.vfio.user.client") || p.equals("io.jvfio.vfio.user.server"),
                "a device written in Java runs under the vfio-user server or in process alike: the device API and "
                        + "its host must not know the vfio-user client or server");
    }

    @Test
    void vmmCoreSeesNoOtherModule() {
        forbid(p -> "vmm-core".equals(MODULE_OF.get(p)), p -> !"vmm-core".equals(MODULE_OF.get(p)),
                "vmm-core is the bottom module: the others build on it");
    }

    private static void forbid(Predicate<String> from, Predicate<String> to, String why) {
        List<String> found = new ArrayList<>();
        GRAPH.forEach((f, targets) -> targets.forEach((t, classes) -> {
            if (from.test(f) && to.test(t)) {
                found.add(f + " -> " + t + ": " + classes);
            }
        }));
        if (!found.isEmpty()) {
            fail(why + "; these dependencies break that:\n    " + String.join("\n    ", found));
        }
    }

    /** Tarjan's strongly connected components of more than one package. */
    private static List<Set<String>> stronglyConnected() {
        Map<String, Integer> index = new HashMap<>();
        Map<String, Integer> low = new HashMap<>();
        Deque<String> stack = new ArrayDeque<>();
        Set<String> onStack = new TreeSet<>();
        List<Set<String>> components = new ArrayList<>();
        for (String v : GRAPH.keySet()) {
            if (!index.containsKey(v)) {
                connect(v, index, low, stack, onStack, components);
            }
        }
        return components;
    }

    private static void connect(String v, Map<String, Integer> index, Map<String, Integer> low, Deque<String> stack,
                                Set<String> onStack, List<Set<String>> components) {
        index.put(v, index.size());
        low.put(v, index.get(v));
        stack.push(v);
        onStack.add(v);
        for (String w : GRAPH.getOrDefault(v, Map.of()).keySet()) {
            if (!index.containsKey(w)) {
                connect(w, index, low, stack, onStack, components);
                low.put(v, Math.min(low.get(v), low.get(w)));
            } else if (onStack.contains(w)) {
                low.put(v, Math.min(low.get(v), index.get(w)));
            }
        }
        if (low.get(v).equals(index.get(v))) {
            Set<String> component = new TreeSet<>();
            String w;
            do {
                w = stack.pop();
                onStack.remove(w);
                component.add(w);
            } while (!w.equals(v));
            if (component.size() > 1) {
                components.add(component);
            }
        }
    }

    /**
     * A copy of the io.jvfio classes in {@code classes} (a directory or a jar) without the module's
     * module-info.class: jdeps reads an input holding one as a named module and then wants every module
     * it requires (JNA, Netty, ...) on a module path, while the package graph needs only the classes.
     */
    private static Path withoutModuleDescriptor(Path classes, Path into) throws IOException {
        try (FileSystem jar = Files.isDirectory(classes) ? null : FileSystems.newFileSystem(classes)) {
            Path root = jar == null ? classes : jar.getPath("/");
            try (Stream<Path> walk = Files.walk(root)) {
                for (Path file : (Iterable<Path>) walk::iterator) {
                    String name = root.relativize(file).toString();
                    if (name.startsWith("io/jvfio/") && name.endsWith(".class")) {
                        Path copy = into.resolve(name);
                        Files.createDirectories(copy.getParent());
                        Files.copy(file, copy);
                    }
                }
            }
        }
        return into;
    }

    private static Set<String> packagesIn(Path classes) throws IOException {
        return ProjectClasses.classNames(classes).stream().map(PackageCyclesTest::packageOf)
                .collect(Collectors.toCollection(TreeSet::new));
    }

    private static String packageOf(String className) {
        return className.substring(0, className.lastIndexOf('.'));
    }

    private static String simpleName(String className) {
        return className.substring(className.lastIndexOf('.') + 1);
    }
}
