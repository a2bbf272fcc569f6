package io.jvfio.launcher;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.lang.module.ModuleDescriptor;
import java.lang.module.ModuleDescriptor.Exports;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The curated API, read from the module descriptors the build compiled (module-info.class of each
 * library module): the JNA bindings, the ioctl calls, the Linux ABI mirrors and the internals of
 * vfio-passthrough are exported to no one or only to jvfio's own modules, each qualified export names
 * a module that exists (javac cannot check that here: vmm-core's descriptor names modules built after
 * it), and goes only to a module whose classes use the package.
 */
class ModuleExportsTest {

    private static final Set<String> LIBRARY_MODULES = Set.of("vmm-core", "guest-memory", "irq-routing",
            "vfio-passthrough");
    /** Not API: never exported to everyone (PLAN14 §2.1; README, Layout of the repository). */
    private static final Set<String> INTERNAL = Set.of("io.jvfio.vmm.linux.jna", "io.jvfio.vmm.linux.ioctl",
            "io.jvfio.vmm.linux.kvm", "io.jvfio.vmm.linux.vfio", "io.jvfio.vfio.emulated.host",
            "io.jvfio.vfio.passthrough.driver");

    /** Module name -> its descriptor, and -> its main classes. */
    private static final Map<String, ModuleDescriptor> DESCRIPTORS = new TreeMap<>();
    private static final Map<String, Path> CLASSES = new TreeMap<>();

    @BeforeAll
    static void readTheDescriptors() throws IOException {
        Map<String, Path> modules = ProjectClasses.mainClasses(LIBRARY_MODULES);
        assertEquals(LIBRARY_MODULES, modules.keySet(), "the main classes of every library module on the test "
                + "class path (run through the reactor: mvn -pl launcher -am)");
        for (Map.Entry<String, Path> m : modules.entrySet()) {
            ModuleDescriptor d = read(m.getValue(), "module-info.class", ModuleDescriptor::read);
            assertTrue(d != null, m.getKey() + " has no module-info.class in " + m.getValue());
            DESCRIPTORS.put(d.name(), d);
            CLASSES.put(d.name(), m.getValue());
        }
    }

    @Test
    void internalPackagesAreNotExportedToEveryone() {
        List<String> found = new ArrayList<>();
        for (String pkg : INTERNAL) {
            // A rule about packages that no longer exist would pass for ever.
            assertTrue(DESCRIPTORS.values().stream().anyMatch(d -> d.packages().contains(pkg)),
                    pkg + " is in no library module: update INTERNAL to the layout");
        }
        for (ModuleDescriptor d : DESCRIPTORS.values()) {
            for (Exports e : d.exports()) {
                if (INTERNAL.contains(e.source()) && !e.isQualified()) {
                    found.add(d.name() + " exports " + e.source());
                }
            }
        }
        assertTrue(found.isEmpty(), "the JNA bindings, the ioctl calls, the ABI mirrors and vfio's internals are "
                + "not API: export them only to the jvfio modules that use them (exports ... to ...); " + found);
    }

    @Test
    void qualifiedExportsNameJvfioModules() {
        List<String> found = new ArrayList<>();
        for (ModuleDescriptor d : DESCRIPTORS.values()) {
            for (Exports e : d.exports()) {
                for (String target : e.targets()) {
                    if (!DESCRIPTORS.containsKey(target) || target.equals(d.name())) {
                        found.add(d.name() + " exports " + e.source() + " to " + target);
                    }
                }
            }
        }
        assertTrue(found.isEmpty(), "a qualified export names another of jvfio's modules " + DESCRIPTORS.keySet()
                + "; these name none: " + found);
    }

    @Test
    void qualifiedExportsGoOnlyWhereTheyAreUsed() throws IOException {
        List<String> unused = new ArrayList<>();
        int checked = 0;
        for (ModuleDescriptor d : DESCRIPTORS.values()) {
            for (Exports e : d.exports()) {
                for (String target : e.targets()) {
                    checked++;
                    Path classes = CLASSES.get(target);
                    // A target that is no jvfio module: qualifiedExportsNameJvfioModules says so.
                    if (classes != null && !referencesPackage(classes, e.source())) {
                        unused.add(d.name() + " exports " + e.source() + " to " + target);
                    }
                }
            }
        }
        assertTrue(checked >= 4, "only " + checked + " qualified exports found: " + DESCRIPTORS);
        assertTrue(unused.isEmpty(), "no class of the target module names the package, so the export widens the "
                + "internals for nothing: drop it; " + unused);
    }

    /** Whether a class in {@code classes} names a type of {@code pkg} (its constant pool holds the internal name). */
    private static boolean referencesPackage(Path classes, String pkg) throws IOException {
        byte[] prefix = (pkg.replace('.', '/') + "/").getBytes(StandardCharsets.UTF_8);
        try (FileSystem jar = Files.isDirectory(classes) ? null : FileSystems.newFileSystem(classes);
             Stream<Path> walk = Files.walk(jar == null ? classes : jar.getPath("/"))) {
            for (Path file : (Iterable<Path>) walk::iterator) {
                if (file.toString().endsWith(".class") && namesAClassOf(Files.readAllBytes(file), prefix)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Whether {@code bytes} hold {@code prefix} followed by a class name, not by a subpackage's. */
    private static boolean namesAClassOf(byte[] bytes, byte[] prefix) {
        outer:
        for (int i = 0; i + prefix.length < bytes.length; i++) {
            for (int j = 0; j < prefix.length; j++) {
                if (bytes[i + j] != prefix[j]) {
                    continue outer;
                }
            }
            int k = i + prefix.length;
            while (k < bytes.length && isNameByte(bytes[k])) {
                k++;
            }
            if (k > i + prefix.length && (k == bytes.length || bytes[k] != '/')) {
                return true;
            }
        }
        return false;
    }

    /** A byte of a class name in the constant pool (jvfio's are ASCII). */
    private static boolean isNameByte(byte b) {
        return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '_' || b == '$';
    }

    private interface Reader<T> {
        T read(InputStream in) throws IOException;
    }

    /** {@code entry} of {@code classes} (a directory or a jar), read; null if it has none. */
    private static <T> T read(Path classes, String entry, Reader<T> reader) throws IOException {
        try (FileSystem jar = Files.isDirectory(classes) ? null : FileSystems.newFileSystem(classes)) {
            Path file = jar == null ? classes.resolve(entry) : jar.getPath(entry);
            if (!Files.exists(file)) {
                return null;
            }
            try (InputStream in = Files.newInputStream(file)) {
                return reader.read(in);
            }
        }
    }
}
