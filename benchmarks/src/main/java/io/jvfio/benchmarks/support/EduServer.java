package io.jvfio.benchmarks.support;

import io.jvfio.vfio.devices.EduDevice;
import io.jvfio.vfio.user.server.VfioUserServer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The edu device served over vfio-user on a socket in a fresh temporary directory, for a benchmark's client. */
public final class EduServer implements AutoCloseable {

    public final EduDevice edu;
    public final VfioUserServer server;
    private final Path dir;

    public EduServer() throws IOException {
        dir = Files.createTempDirectory("jvfio-bench");
        edu = new EduDevice();
        server = VfioUserServer.start(socket(), edu);
    }

    public Path socket() {
        return dir.resolve("edu.sock");
    }

    @Override
    public void close() throws IOException {
        server.close();
        edu.close();
        Files.deleteIfExists(socket());
        Files.deleteIfExists(dir);
    }
}
