package io.jvfio.vmm.linux;

import io.jvfio.vmm.linux.jna.CMacros;
import io.jvfio.vmm.linux.jna.IoctlRequest;
import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.linux.jna.LinuxConstants;
import io.jvfio.vmm.linux.jna.StructLayout;
import io.jvfio.vmm.testing.Prerequisites;
import io.jvfio.vmm.testing.TestKernel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Checks the Java mirror of the Linux ABI against the real headers: every struct layout (size, and
 * offset and size of each field), every ioctl request number, every constant of a {@link CMacros}
 * class and every {@link Errno} entry is found by reflection in {@code io.jvfio.vmm.linux..}, printed
 * by a C program generated here and compiled with {@code cc}, and compared. Nothing is listed by
 * hand, so a mirror added later is checked without touching this test.
 *
 * <p>The kernel headers are the test kernel's 6.12 UAPI headers ({@code -Djvfio.uapi.headers=DIR},
 * its {@code include/}, which {@code ./run-tests} passes; else those of the test kernel in the cache):
 * the mirrors follow 6.12 ({@code vfio_device_info} ends with a pad there), and the host's 6.1
 * headers lack {@code linux/iommufd.h} and the VFIO device cdev, so they cannot judge them. Without
 * the 6.12 headers the test is skipped with the reason, unless {@code -Djvfio.uapi=required}, which
 * fails instead.
 */
class AbiConformanceTest {

    private static final String PACKAGE = "io.jvfio.vmm";
    /** The switch that makes missing 6.12 headers a failure. */
    private static final String UAPI = "jvfio.uapi";
    /** The property naming the UAPI headers' directory (the test kernel's include/). */
    private static final String UAPI_HEADERS = "jvfio.uapi.headers";

    /** The UAPI headers compiled against. */
    private static Path uapiHeaders;

    /** What the Java side says, keyed as the C program prints it. */
    private static final Map<String, String> JAVA = new LinkedHashMap<>();
    /** What the compiler says. */
    private static final Map<String, String> C = new LinkedHashMap<>();
    private static final List<StructLayout> LAYOUTS = new ArrayList<>();
    private static final List<Class<?>> CLASSES = new ArrayList<>();

    @BeforeAll
    static void compileAndRun(@TempDir Path dir) throws Exception {
        CLASSES.addAll(abiClasses());
        uapiHeaders = uapiHeaders();
        TreeSet<String> headers = new TreeSet<>(List.of("stdio.h", "stddef.h", "string.h", "errno.h",
                "linux/version.h"));
        StringBuilder body = new StringBuilder();
        // Which headers the compiler really read: the test compares it with the directory's own version.h.
        body.append("  printf(\"uapi LINUX_VERSION_CODE %u\\n\", (unsigned)LINUX_VERSION_CODE);\n");

        for (Class<?> type : CLASSES) {
            CMacros macros = type.getAnnotation(CMacros.class);
            if (macros != null) {
                headers.addAll(List.of(macros.value()));
            }
            for (Field f : type.getDeclaredFields()) {
                int mod = f.getModifiers();
                if (!Modifier.isStatic(mod) || !Modifier.isFinal(mod)) {
                    continue;
                }
                f.setAccessible(true);
                Object value = f.get(null);
                if (value instanceof StructLayout layout) {
                    LAYOUTS.add(layout);
                    headers.add(layout.header());
                    describeLayout(layout, JAVA);
                    emitLayout(layout, body);
                } else if (value instanceof IoctlRequest request) {
                    assertEquals(f.getName(), request.name(),
                            type.getName() + "." + f.getName() + " names its request differently");
                    JAVA.put("ioctl " + request.name(), Long.toUnsignedString(request.number()));
                    body.append(String.format("  printf(\"ioctl %s %%llu\\n\", (unsigned long long)(%s));%n",
                            request.name(), request.name()));
                } else if (macros != null && Modifier.isPublic(mod)
                        && (f.getType() == int.class || f.getType() == long.class)) {
                    // An int constant stands for the low 32 bits of the C value (an unsigned 0x80000000u
                    // and Java's 1 << 31 are the same bits); a long for all 64.
                    boolean is32 = f.getType() == int.class;
                    long v = is32 ? Integer.toUnsignedLong(f.getInt(null)) : f.getLong(null);
                    JAVA.put("macro " + f.getName(), Long.toUnsignedString(v));
                    body.append(String.format("  printf(\"macro %s %%llu\\n\", (unsigned long long)(%s)(%s));%n",
                            f.getName(), is32 ? "unsigned int" : "unsigned long long", f.getName()));
                }
            }
        }
        for (Errno e : Errno.values()) {
            JAVA.put("errno " + e.name(), e.number() + " " + e.text());
            body.append(String.format("  printf(\"errno %s %%d %%s\\n\", %s, strerror(%s));%n", e.name(), e.name(),
                    e.name()));
        }
        // Function-like macros the Java side re-implements.
        headers.add("sys/socket.h");
        for (int n : new int[] {0, 4, 12, 4 * 8, 4 * SocketMessage.SCM_MAX_FD}) {
            JAVA.put("expr CMSG_SPACE(" + n + ")", Integer.toString(SocketMessage.cmsgSpace(n)));
            JAVA.put("expr CMSG_LEN(" + n + ")", Integer.toString(SocketMessage.cmsgLen(n)));
            body.append(String.format("  printf(\"expr CMSG_SPACE(%d) %%zu\\n\", (size_t)CMSG_SPACE(%d));%n", n, n));
            body.append(String.format("  printf(\"expr CMSG_LEN(%d) %%zu\\n\", (size_t)CMSG_LEN(%d));%n", n, n));
        }

        StringBuilder program = new StringBuilder("#define _GNU_SOURCE\n");
        for (String h : headers) {
            program.append("#include <").append(h).append(">\n");
        }
        program.append("int main(void) {\n").append(body).append("  return 0;\n}\n");

        Path source = dir.resolve("abi.c");
        Files.writeString(source, program, StandardCharsets.UTF_8);
        Path binary = dir.resolve("abi");
        // -isystem: searched before /usr/include, for the C library's own includes of linux/ and asm/
        // too, as linux-libc-dev's headers would be.
        run(dir, List.of(findCompiler(), "-std=gnu11", "-Wall", "-Werror", "-isystem", uapiHeaders.toString(),
                "-o", binary.toString(), source.toString()));
        for (String line : run(dir, List.of(binary.toString())).split("\n")) {
            String[] parts = line.split(" ", 3);
            C.put(parts[0] + " " + parts[1], parts[2]);
        }
    }

    private static void describeLayout(StructLayout layout, Map<String, String> out) {
        out.put("sizeof " + layout.cStruct(), Integer.toString(layout.size()));
        for (StructLayout.Field f : layout.fields()) {
            out.put("field " + layout.cStruct() + "." + f.name(), f.offset() + " " + f.size());
        }
    }

    private static void emitLayout(StructLayout layout, StringBuilder body) {
        String s = "struct " + layout.cStruct();
        body.append(String.format("  printf(\"sizeof %s %%zu\\n\", sizeof(%s));%n", layout.cStruct(), s));
        for (StructLayout.Field f : layout.fields()) {
            String member = "((" + s + " *)0)->" + f.name() + (f.flexibleArray() ? "[0]" : "");
            body.append(String.format("  printf(\"field %s.%s %%zu %%zu\\n\", offsetof(%s, %s), sizeof(%s));%n",
                    layout.cStruct(), f.name(), s, f.name(), member));
        }
    }

    private static List<String> mismatches(Map<String, String> java, String prefix) {
        List<String> wrong = new ArrayList<>();
        java.forEach((key, value) -> {
            if (!key.startsWith(prefix)) {
                return;
            }
            String c = C.get(key);
            if (!value.equals(c)) {
                wrong.add(key + ": Java says " + value + ", the C headers say " + c);
            }
        });
        return wrong;
    }

    private static void assertMatches(String prefix) {
        List<String> wrong = mismatches(JAVA, prefix);
        if (!wrong.isEmpty()) {
            fail(wrong.size() + " mismatches against the C headers:\n  " + String.join("\n  ", wrong));
        }
    }

    /**
     * The UAPI headers: {@code -Djvfio.uapi.headers}, else the test kernel's in the cache; where there
     * are none the test is skipped, or fails under {@code -Djvfio.uapi=required}.
     */
    private static Path uapiHeaders() {
        String explicit = System.getProperty(UAPI_HEADERS);
        if (explicit != null && !explicit.isEmpty()) {
            Path dir = Path.of(explicit);
            if (!Files.isRegularFile(dir.resolve("linux/vfio.h")) || !Files.isRegularFile(dir.resolve("linux/version.h"))) {
                fail("-D" + UAPI_HEADERS + "=" + dir + " has no linux/vfio.h and linux/version.h: it names the "
                        + "include/ directory inside the test kernel's directory, which " + TestKernel.PREPARE
                        + " prints");
            }
            return dir;
        }
        Path kernel = TestKernel.dir();
        Path headers = kernel == null ? null : TestKernel.headers(kernel);
        if (headers != null) {
            return headers;
        }
        throw Prerequisites.missing(UAPI, "the ABI mirrors follow Linux 6.12's UAPI headers, and the test "
                + "kernel's are not here (the host's " + hostVersion() + " headers cannot judge them): run "
                + TestKernel.PREPARE + " and pass -D" + UAPI_HEADERS + "=ITS_DIRECTORY/include (./run-tests does)");
    }

    /** The compiler read the headers the test meant it to: their version.h is the one in the program. */
    @Test
    void theHeadersAreTheOnesAskedFor() throws IOException {
        Path versionH = uapiHeaders.resolve("linux/version.h");
        int code = versionCode(versionH);
        assertEquals(Integer.toString(code), C.get("uapi LINUX_VERSION_CODE"), "the C program was not compiled against "
                + versionH);
        assertTrue(code >= (6 << 16 | 12 << 8), "the headers in " + uapiHeaders + " are Linux " + version(code)
                + "'s, older than the 6.12 the mirrors follow");
        System.out.println("ABI checked against the UAPI headers of Linux " + version(code) + " in " + uapiHeaders);
    }

    /** LINUX_VERSION_CODE of a linux/version.h. */
    private static int versionCode(Path versionH) throws IOException {
        String define = "#define LINUX_VERSION_CODE ";
        return Files.readAllLines(versionH).stream().filter(l -> l.startsWith(define))
                .map(l -> Integer.parseInt(l.substring(define.length()).trim())).findFirst()
                .orElseThrow(() -> new AssertionError(versionH + " defines no LINUX_VERSION_CODE"));
    }

    private static String version(int code) {
        return (code >> 16) + "." + ((code >> 8) & 0xff) + "." + (code & 0xff);
    }

    private static String hostVersion() {
        try {
            return version(versionCode(Path.of("/usr/include/linux/version.h")));
        } catch (IOException | RuntimeException | AssertionError e) {
            return "older";
        }
    }

    @Test
    void structSizesMatchTheCompiler() {
        assertMatches("sizeof ");
    }

    @Test
    void everyFieldOffsetAndSizeMatchesTheCompiler() {
        assertMatches("field ");
    }

    @Test
    void everyIoctlRequestNumberMatchesTheHeaders() {
        assertMatches("ioctl ");
    }

    @Test
    void everyConstantMatchesTheHeaders() {
        assertMatches("macro ");
    }

    @Test
    void errnoNamesNumbersAndTextsMatchGlibc() {
        assertMatches("errno ");
    }

    @Test
    void cmsgSizesMatchTheMacros() {
        assertMatches("expr ");
    }

    @Test
    void theScanFoundTheWholeAbi() {
        List<String> names = CLASSES.stream().map(Class::getSimpleName).toList();
        for (String expected : List.of("LinuxConstants", "VfioConstants", "VfioIoctls", "VfioRegionInfo", "VfioIrqSet",
                "VfioIommuType1DmaMap", "KvmConstants", "KvmIoctls", "KvmRun", "KvmSregs", "KvmIrqRouting", "KvmIrqfd",
                "KvmMpState", "SocketMessage", "Epoll", "UnixSocket", "FileStat", "PciRegs", "IommufdConstants",
                "IommufdIoctls", "IommuIoasMap", "IommuIoasIovaRanges", "VfioDeviceBindIommufd", "VfioDeviceIoeventfd",
                "KvmIoeventfd")) {
            assertTrue(names.contains(expected), "the ABI scan did not find " + expected + " among " + names);
        }
        long fields = JAVA.keySet().stream().filter(k -> k.startsWith("field ")).count();
        long ioctls = JAVA.keySet().stream().filter(k -> k.startsWith("ioctl ")).count();
        long macros = JAVA.keySet().stream().filter(k -> k.startsWith("macro ")).count();
        assertTrue(fields > 200, "only " + fields + " struct fields were checked");
        assertTrue(ioctls >= 40, "only " + ioctls + " ioctl requests were checked");
        assertTrue(macros > 150, "only " + macros + " constants were checked");
    }

    /** The comparison itself: one wrong offset in one mirror must be reported. */
    @Test
    void aSingleWrongOffsetIsReported() {
        StructLayout right = LAYOUTS.stream().filter(l -> l.cStruct().equals("vfio_region_info")).findFirst()
                .orElseThrow();
        StructLayout.Builder b = StructLayout.of(right.header(), right.cStruct(), right.size());
        for (StructLayout.Field f : right.fields()) {
            int offset = f.name().equals("offset") ? f.offset() - 8 : f.offset(); // as if "offset" were at 16
            b.field(f.name(), offset, f.size());
        }
        Map<String, String> wrongJava = new LinkedHashMap<>();
        describeLayout(b.build(), wrongJava);
        List<String> reported = mismatches(wrongJava, "field ");
        assertEquals(List.of("field vfio_region_info.offset: Java says 16 8, the C headers say 24 8"), reported);

        Map<String, String> wrongSize = new LinkedHashMap<>();
        describeLayout(StructLayout.of("linux/kvm.h", "kvm_msi", 28).build(), wrongSize);
        assertFalse(mismatches(wrongSize, "sizeof ").isEmpty(), "a wrong struct size went unnoticed");
    }

    private static List<Class<?>> abiClasses() throws Exception {
        Path root = Path.of(LibC.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        if (!Files.isDirectory(root)) {
            throw new IllegalStateException("expected vmm-core's classes in a directory, found " + root);
        }
        Path pkg = root.resolve(PACKAGE.replace('.', '/'));
        List<Class<?>> classes = new ArrayList<>();
        try (Stream<Path> files = Files.walk(pkg)) {
            for (Path p : files.filter(f -> f.toString().endsWith(".class")).sorted().toList()) {
                String name = root.relativize(p).toString().replace('/', '.').replaceAll("\\.class$", "");
                classes.add(Class.forName(name, true, AbiConformanceTest.class.getClassLoader()));
            }
        }
        return classes;
    }

    private static String findCompiler() {
        for (String cc : List.of("cc", "gcc", "clang")) {
            for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
                if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, cc))) {
                    return cc;
                }
            }
        }
        throw Prerequisites.missing("jvfio.cc", "no C compiler (cc, gcc or clang) on PATH: "
                + "the ABI mirrors cannot be checked against the kernel headers here (apt-get install gcc linux-libc-dev)");
    }

    private static String run(Path dir, List<String> command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException(command + " did not finish in 60 s");
        }
        if (p.exitValue() != 0) {
            throw new IllegalStateException(command + " failed with status " + p.exitValue() + ":\n" + out);
        }
        return out;
    }
}
