package io.jvfio.launcher;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.jar.JarFile;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The compiled main classes of the project's modules, as the reactor puts them on the launcher's
 * test class path (a module's target/classes, or its jar where the build packaged it first): what
 * the layout and exception-root tests read.
 */
final class ProjectClasses {

    private ProjectClasses() {
    }

    /** Module (its directory below the repository) -> its main classes, for those of {@code modules} found. */
    static Map<String, Path> mainClasses(Set<String> modules) {
        Path root = Path.of("").toAbsolutePath().getParent();
        Map<String, Path> found = new TreeMap<>();
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            Path p = Path.of(entry).toAbsolutePath().normalize();
            if (!p.startsWith(root) || p.getNameCount() <= root.getNameCount()) {
                continue;
            }
            String module = p.getName(root.getNameCount()).toString();
            boolean main = p.endsWith(Path.of("target", "classes"))
                    || (p.toString().endsWith(".jar") && !p.toString().endsWith("-tests.jar"));
            if (modules.contains(module) && main && Files.exists(p)) {
                found.put(module, p);
            }
        }
        return found;
    }

    /** The binary names of the io.jvfio classes in {@code classes} (a directory or a jar). */
    static Set<String> classNames(Path classes) throws IOException {
        List<String> entries;
        if (Files.isDirectory(classes)) {
            try (Stream<Path> walk = Files.walk(classes)) {
                entries = walk.map(p -> classes.relativize(p).toString().replace(File.separatorChar, '/'))
                        .collect(Collectors.toList());
            }
        } else {
            try (JarFile jar = new JarFile(classes.toFile())) {
                entries = jar.stream().map(e -> e.getName()).collect(Collectors.toList());
            }
        }
        return entries.stream()
                .filter(n -> n.endsWith(".class") && n.startsWith("io/jvfio/") && !n.contains("-"))
                .map(n -> n.substring(0, n.length() - ".class".length()).replace('/', '.'))
                .collect(Collectors.toCollection(TreeSet::new));
    }
}
