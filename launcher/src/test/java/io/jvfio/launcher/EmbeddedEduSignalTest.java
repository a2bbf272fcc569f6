package io.jvfio.launcher;

import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 13 item 10: a run stopped by SIGTERM left /tmp/jvfio-N/edu.sock behind. A real JVM holding
 * the embedded edu is signalled, and its private directory must be gone when it has exited.
 */
class EmbeddedEduSignalTest {

    /** The child: serves the embedded edu, prints its socket, and waits to be signalled. */
    public static void main(String[] args) throws InterruptedException {
        EmbeddedEdu edu = new EmbeddedEdu();
        System.out.println(edu.socket());
        System.out.flush();
        new java.util.concurrent.CountDownLatch(1).await(); // until SIGTERM ends the JVM
    }

    @Test
    void sigtermRemovesTheSocketAndItsDirectory() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"),
                EmbeddedEduSignalTest.class.getName())).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            Path socket = Path.of(out.readLine());
            assertTrue(Files.exists(socket), socket + " exists while serving");
            p.destroy(); // SIGTERM
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the child exits on SIGTERM");
            assertEquals(143, p.exitValue());
            assertFalse(Files.exists(socket), socket + " is removed");
            assertFalse(Files.exists(socket.getParent()), socket.getParent() + " is removed");
        } finally {
            p.destroyForcibly();
        }
    }
}
