package io.jvfio.launcher;

import com.sun.jna.Native;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/** What {@code --version} prints: jvfio's version and those of the native layers it runs on. */
final class Version {

    private Version() {
    }

    static String jvfio() {
        Properties p = new Properties();
        try (InputStream in = Version.class.getResourceAsStream("version.properties")) {
            if (in == null) {
                throw new IllegalStateException("version.properties is missing from the launcher jar");
            }
            p.load(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return p.getProperty("version");
    }

    static String describe() {
        // Netty's version comes from the META-INF/io.netty.versions.properties files of its jars;
        // reading it here proves the shaded jar merged them.
        io.netty.util.Version epoll = io.netty.util.Version.identify().get("netty-transport-native-epoll");
        String netty = epoll != null ? epoll.artifactVersion() : "unknown (its version files are missing)";
        return "jvfio version " + jvfio() + "\n"
                + "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")"
                + ", JNA " + Native.VERSION + ", Netty " + netty + "\n";
    }
}
