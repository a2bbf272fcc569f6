package io.jvfio.launcher;

import io.jvfio.launcher.driver.GuestDriver;
import io.jvfio.vfio.user.server.VfioUserServer;
import io.jvfio.vfio.user.transport.ConnectionLimits;
import io.jvfio.vfio.devices.EduDevice;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.TimeUnit;

/**
 * The main job's device: the edu device written in Java, served over vfio-user on a private socket
 * (in a directory only this user can enter), in this process, for the VM to attach with
 * {@code -device vfio-user-pci} like any other vfio-user device.
 */
final class EmbeddedEdu implements AutoCloseable {

    /**
     * The server's bounds, for its one client, this process's VMM: the default bounds on a client's pace
     * (VERSION within 10 s of connecting, output read within 10 s) keep a stalled or hostile peer from
     * holding a server; here a slow client is this process being slow (loading its classes on a loaded
     * host: in the nested VM, where everything is emulated, a destination starting beside a running source
     * took more than 10 s to send its VERSION and lost its device). They are the guest driver's bound instead.
     */
    static final ConnectionLimits LIMITS = ConnectionLimits.DEFAULTS
            .withNegotiationTimeout(TimeUnit.SECONDS.toMillis(GuestDriver.TIMEOUT_SECONDS))
            .withWriteStallTimeout(TimeUnit.SECONDS.toMillis(GuestDriver.TIMEOUT_SECONDS));

    private final Path dir;
    private final EduDevice edu = new EduDevice();
    private final VfioUserServer server;
    /** SIGINT/SIGTERM end the JVM without close(): this removes the socket and the directory then. */
    private final Thread cleanup;

    EmbeddedEdu() {
        try {
            dir = Files.createTempDirectory("jvfio-", PosixFilePermissions.asFileAttribute(
                    PosixFilePermissions.fromString("rwx------")));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a private directory for the edu device's socket", e);
        }
        server = VfioUserServer.start(dir.resolve("edu.sock"), edu, LIMITS);
        cleanup = new Thread(this::removeFiles, "jvfio-edu-cleanup");
        Runtime.getRuntime().addShutdownHook(cleanup);
    }

    private void removeFiles() {
        try {
            Files.deleteIfExists(dir.resolve("edu.sock"));
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            // a leftover in the temp dir; nothing more to do at exit
        }
    }

    Path socket() {
        return server.path();
    }

    @Override
    public void close() {
        server.close();
        edu.close();
        removeFiles();
        try {
            Runtime.getRuntime().removeShutdownHook(cleanup);
        } catch (IllegalStateException e) {
            // closing during shutdown: the hook runs anyway
        }
    }
}
