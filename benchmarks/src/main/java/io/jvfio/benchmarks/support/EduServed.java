package io.jvfio.benchmarks.support;

import io.jvfio.vfio.devices.EduDevice;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vfio.user.server.VfioUserServer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The edu device served over vfio-user on a socket in a fresh temporary directory, and a client
 * connected to it (no guest memory offered): what the vfio-user benchmarks talk to without the
 * device model in between.
 */
public final class EduServed implements AutoCloseable {

    public final EduDevice edu = new EduDevice();
    public final VfioUserServer server;
    public final VfioUserClient client;
    private final Path dir;

    public EduServed() {
        try {
            dir = Files.createTempDirectory("jvfio-bench");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        server = VfioUserServer.start(dir.resolve("edu.sock"), edu);
        client = VfioUserClient.connect(dir.resolve("edu.sock"), 5000, null);
    }

    /** The client, the server, the device, then the directory. */
    @Override
    public void close() {
        client.close();
        server.close();
        edu.close();
        try {
            Files.deleteIfExists(dir.resolve("edu.sock"));
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            // a temporary directory left behind
        }
    }
}
