package io.jvfio.vmm.linux;

import io.jvfio.vmm.linux.jna.LinuxConstants;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A failed call's errno must survive whatever runs before it is read. A regression test: loading a
 * class between a failed {@code read} and the read of its errno once replaced EAGAIN with the ENOENT
 * that class loading had left behind, because that class's static initializer made a native call.
 * A fresh JVM with an empty directory first on its class path makes every class lookup fail there
 * first, with ENOENT, which reproduces it every time.
 */
class ErrnoAfterClassLoadingTest {

    /** Runs in the fresh JVM: the very first failing calls, with nothing of the syscall layer loaded yet. */
    public static void main(String[] args) {
        EventFd e = new EventFd("first");
        System.out.println("read of an empty eventfd: " + e.read());
        try {
            Syscalls.open("/nonexistent/jvfio", LinuxConstants.O_RDONLY);
        } catch (SyscallException ex) {
            System.out.println(ex.getMessage());
        }
    }

    @Test
    void theFirstFailuresInAFreshJvmReportTheirOwnErrno(@TempDir Path empty) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = empty + File.pathSeparator + System.getProperty("java.class.path");
        Process p = new ProcessBuilder(List.of(java, "-cp", cp, ErrnoAfterClassLoadingTest.class.getName()))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals("read of an empty eventfd: 0\n"
                + "open on /nonexistent/jvfio: No such file or directory (ENOENT)\n", out);
    }
}
