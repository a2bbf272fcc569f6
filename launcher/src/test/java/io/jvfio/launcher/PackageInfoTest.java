package io.jvfio.launcher;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.module.ModuleDescriptor;
import java.lang.module.ModuleFinder;
import java.lang.module.ModuleReference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 14's acceptance: each package a library module exports (its compiled module-info, qualified
 * exports included) has a package-info.java with a Javadoc comment saying what the package is for.
 * javac writes no package-info.class for a comment alone, so the sources are read, beside the classes.
 */
class PackageInfoTest {

    private static final Set<String> LIBRARIES = Set.of("vmm-core", "guest-memory", "irq-routing", "vfio-passthrough");

    @Test
    void everyExportedPackageSaysWhatItIsFor() throws IOException {
        Map<String, Path> modules = ProjectClasses.mainClasses(LIBRARIES);
        assertEquals(LIBRARIES, modules.keySet(), "the main classes of every library module on the test class path "
                + System.getProperty("java.class.path") + " (run through the reactor: mvn -pl launcher -am)");
        Path root = Path.of("").toAbsolutePath().getParent();
        List<String> missing = new ArrayList<>();
        int exported = 0;
        for (Map.Entry<String, Path> module : modules.entrySet()) {
            ModuleReference ref = ModuleFinder.of(module.getValue()).findAll().stream().findFirst()
                    .orElseThrow(() -> new AssertionError(module.getValue() + " has no module-info.class"));
            for (ModuleDescriptor.Exports e : ref.descriptor().exports()) {
                exported++;
                Path info = root.resolve(module.getKey()).resolve("src/main/java")
                        .resolve(e.source().replace('.', '/')).resolve("package-info.java");
                if (!Files.exists(info)) {
                    missing.add(e.source() + " (" + module.getKey() + "): no " + root.relativize(info));
                } else if (!Files.readString(info).contains("/**")) {
                    missing.add(e.source() + " (" + module.getKey() + "): " + root.relativize(info) + " has no Javadoc comment");
                }
            }
        }
        assertTrue(exported >= LIBRARIES.size(), "exported packages found: " + exported);
        assertTrue(missing.isEmpty(), "exported packages that do not say what they are for (write a package-info.java"
                + " with a Javadoc comment):\n  " + String.join("\n  ", missing));
    }
}
