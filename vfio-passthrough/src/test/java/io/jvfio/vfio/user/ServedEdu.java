package io.jvfio.vfio.user;

import io.jvfio.vfio.devices.EduDevice;

import io.jvfio.vfio.emulated.EmulatedDevice;
import io.jvfio.vfio.user.server.VfioUserServer;
import io.jvfio.vfio.user.transport.ConnectionLimits;
import java.nio.file.Path;

/**
 * A test's served device: the edu device behind a {@link VfioUserServer} on a fresh socket, and the
 * process's fd count from before either existed, which closing must return to.
 */
public final class ServedEdu implements AutoCloseable {

    public final long fdsBefore;
    public final Path socket;
    public final EduDevice edu;
    public VfioUserServer server;

    public ServedEdu(Path dir) throws java.io.IOException {
        this(dir, ConnectionLimits.DEFAULTS);
    }

    /** Serves edu holding each client to {@code limits} (a test's short timeouts). */
    public ServedEdu(Path dir, ConnectionLimits limits) throws java.io.IOException {
        fdsBefore = Fds.open();
        socket = dir.resolve("edu.sock");
        edu = new EduDevice();
        server = VfioUserServer.start(socket, edu, limits);
    }

    /** Serves {@code device} (which wraps the edu device) instead, on the same socket. */
    public void serve(EmulatedDevice device) {
        serve(device, server.limits());
    }

    /**
     * Serves {@code device} (the edu device, or one that wraps it) on the same socket, holding the
     * clients from now on to {@code limits}: a server's bounds are fixed when it starts.
     */
    public void serve(EmulatedDevice device, ConnectionLimits limits) {
        server.close();
        server = VfioUserServer.start(socket, device, limits);
    }

    /** Stops the server and the device, and fails if the process holds more fds than before. */
    @Override
    public void close() throws java.io.IOException {
        server.close();
        edu.close();
        Fds.awaitBackTo(fdsBefore);
    }
}
