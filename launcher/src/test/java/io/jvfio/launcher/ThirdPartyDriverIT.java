package io.jvfio.launcher;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A device driver from outside the project, attached through {@code -device}: the sources under
 * src/test/third-party (on no Maven source path) are compiled here against the shaded jvfio jar
 * alone, as a third party would compile them, jarred with their META-INF/services file, and the
 * jvfio command runs in its own JVM with both jars on the class path. The ServiceLoader finds the
 * driver, the registry checks its options, its {@code create} makes the function, and the machine
 * places it on the bus, where the built-in driver finds and reads it. {@code -accel none}: no
 * prerequisite, so it never skips.
 */
class ThirdPartyDriverIT {

    private static final String DRIVER = "com.example.hello.HelloDriver";

    private static Path jvfioJar;
    private static Path helloJar;

    @BeforeAll
    static void buildTheThirdPartyJar() throws IOException {
        jvfioJar = Path.of(System.getProperty("jvfio.jar", "target/jvfio.jar"));
        assertTrue(Files.isRegularFile(jvfioJar), "the shaded jar " + jvfioJar + " was not built");
        Path sources = Path.of(System.getProperty("basedir", ".")).resolve("src/test/third-party");
        Path work = jvfioJar.resolveSibling("third-party");
        Path classes = work.resolve("classes");
        Files.createDirectories(classes);
        List<Path> files;
        try (Stream<Path> s = Files.walk(sources)) {
            files = s.filter(p -> p.toString().endsWith(".java")).sorted().toList();
        }
        assertTrue(!files.isEmpty(), "no third-party sources under " + sources);
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertTrue(javac != null, "this JVM has no Java compiler (a JRE, not a JDK): run the build with a JDK");
        DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
        try (StandardJavaFileManager fm = javac.getStandardFileManager(diagnostics, null, StandardCharsets.UTF_8)) {
            boolean ok = javac.getTask(null, fm, diagnostics, List.of("--release", "17", "-classpath",
                    jvfioJar.toString(), "-d", classes.toString()), null, fm.getJavaFileObjectsFromPaths(files)).call();
            assertTrue(ok, "the third-party driver did not compile: " + diagnostics.getDiagnostics());
        }
        helloJar = work.resolve("hello.jar");
        Manifest manifest = new Manifest();
        manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        try (OutputStream out = Files.newOutputStream(helloJar); JarOutputStream jar = new JarOutputStream(out, manifest);
             Stream<Path> s = Files.walk(classes)) {
            for (Path c : s.filter(Files::isRegularFile).sorted().toList()) {
                jar.putNextEntry(new JarEntry(classes.relativize(c).toString().replace('\\', '/')));
                jar.write(Files.readAllBytes(c));
                jar.closeEntry();
            }
            jar.putNextEntry(new JarEntry("META-INF/services/io.jvfio.vmm.device.DeviceDriver"));
            jar.write((DRIVER + "\n").getBytes(StandardCharsets.UTF_8));
            jar.closeEntry();
        }
    }

    /** {@code java -cp jvfio.jar:hello.jar io.jvfio.launcher.Main ARGS}. */
    static LauncherJarIT.Result jvfio(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", jvfioJar + File.pathSeparator + helloJar, "io.jvfio.launcher.Main"));
        cmd.addAll(List.of(args));
        return LauncherJarIT.run(cmd);
    }

    @Test
    void theDriverIsNotPartOfTheProject() {
        assertThrows(ClassNotFoundException.class, () -> Class.forName(DRIVER),
                "the third-party driver must come from its own jar, not from the project's class path");
    }

    @Test
    void deviceHelpListsTheThirdPartyDriverWithTheBuiltInOnes() throws Exception {
        LauncherJarIT.Result r = jvfio("-device", "help");
        assertEquals(0, r.status(), r.toString());
        assertTrue(r.out().contains("name \"hello\", bus PCI, desc \"A PCI function from a third-party jar that says "
                + "hello\"\n"), r.out());
        assertTrue(r.out().contains("name \"vfio-pci\""), r.out());
        assertTrue(r.out().contains("name \"vfio-user-pci\""), r.out());
        LauncherJarIT.Result props = jvfio("-device", "hello,help");
        assertEquals(0, props.status(), props.toString());
        assertTrue(props.out().startsWith("hello options:\n"), props.out());
        assertTrue(props.out().contains("\n  greeting=<uint32>"), props.out());
        assertTrue(props.out().contains("\n  addr=<pci-devfn>"), props.out());
    }

    @Test
    void theDriversValidateMessageIsTheOneLineOfABadOption() throws Exception {
        LauncherJarIT.Result r = jvfio("-accel", "none", "-device", "hello,greeting=0");
        assertEquals(1, r.status(), r.toString());
        assertEquals("", r.out());
        assertEquals("jvfio: -device hello,greeting=0: hello: greeting=0 says nothing; give a non-zero greeting\n",
                r.err());
        LauncherJarIT.Result typo = jvfio("-accel", "none", "-device", "hello,greting=1");
        assertEquals(1, typo.status(), typo.toString());
        assertTrue(typo.err().contains("Property 'hello.greting' not found (did you mean 'greeting'?"), typo.err());
    }

    @Test
    void theDeviceIsCreatedPlacedAndReadByTheBuiltInDriver() throws Exception {
        LauncherJarIT.Result r = jvfio("-accel", "none", "-device", "hello,id=hi,addr=05.0,greeting=0x48454c4f");
        assertEquals(0, r.status(), r.toString());
        assertEquals("", r.err());
        // Its configuration space answers on bus 0 at its addr=, with its own IDs.
        assertTrue(r.out().contains("\n00:05.0 Unassigned class [ff00]: Device [abcd:1234] (rev 01)\n"), r.out());
        assertTrue(r.out().contains("\n  PASS  find       00:05.0 [abcd:1234]; 2 functions on bus 0\n"), r.out());
        assertTrue(r.out().contains("\n  PASS  bars       1 memory BAR sized and placed: BAR0 4K at 0xc0000000\n"), r.out());
        // Its BAR0 decodes where the driver placed it, and each read returns the greeting it was given.
        assertTrue(r.out().contains("\n  PASS  trapped    1000 reads of 0xc0000000 (last 0x48454c4f);"), r.out());
        assertTrue(!r.out().contains("  FAIL  "), r.out());
        assertTrue(r.out().contains("\n  00:05.0 hello,id=hi,addr=05.0,greeting=1212501071, made by "
                + "com.example.hello.HelloFunction: BAR0 4K\n"), r.out());
    }
}
