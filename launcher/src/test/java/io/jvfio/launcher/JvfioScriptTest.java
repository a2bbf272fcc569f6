package io.jvfio.launcher;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The {@code jvfio} script and the tests that start the shaded jar in its place
 * ({@link ServerProcess}) give java the same options, so that what the soak measures (the RSS
 * under the script's heap bound) is what {@code ./jvfio --serve} does.
 */
class JvfioScriptTest {

    @Test
    void theScriptGivesJavaTheOptionsServerProcessGives() throws IOException {
        Path script = Path.of("../jvfio"); // the tests run in the launcher module's directory
        String exec = "exec java " + String.join(" ", ServerProcess.JVM_OPTIONS) + " ${JVFIO_JAVA_OPTS:-} -jar ";
        assertTrue(Files.readString(script).contains(exec),
                script.toAbsolutePath().normalize() + " should run the jar with `" + exec + "...`, as ServerProcess does:"
                        + " change the two together");
    }
}
