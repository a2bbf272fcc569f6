package io.jvfio.launcher;

import io.jvfio.JvfioException;
import io.jvfio.vfio.emulated.EmulatedDevice;
import io.jvfio.vfio.user.server.VfioUserServer;
import io.jvfio.vfio.devices.EduDevice;
import io.jvfio.vfio.devices.GpioDevice;
import io.jvfio.vfio.devices.NoBarDevice;
import io.jvfio.vfio.devices.TinyDevice;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * {@code jvfio --serve}: a device written in Java, served over vfio-user on a UNIX socket until the
 * process is told to stop (SIGTERM or Ctrl-C run the shutdown hook, which closes the server and
 * removes the socket before the JVM exits).
 */
final class DeviceServer {

    /** How long a signal waits for the server to close its clients and its socket before the JVM exits anyway. */
    static final long STOP_SECONDS = 20;

    private DeviceServer() {
    }

    /** Serves until {@code stop} counts down; returns the exit status. */
    static int run(CommandLine.Serve serve, PrintStream out, PrintStream err, CountDownLatch stop) {
        EmulatedDevice device = device(serve.device());
        VfioUserServer server;
        try {
            server = VfioUserServer.start(serve.socket(), device, serve.limits());
        } catch (JvfioException e) {
            close(device);
            err.println(Main.oneLine("jvfio: --serve " + serve.device() + ",socket=" + serve.socket() + ": " + e.getMessage()));
            return 1;
        }
        out.println("jvfio: serving " + device + " over vfio-user on " + serve.socket() + " (pid "
                + ProcessHandle.current().pid() + "); SIGTERM or Ctrl-C stops it");
        out.flush();
        try {
            stop.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            int clients = server.clientsServed();
            server.close();
            close(device);
            out.println("jvfio: stopped serving on " + serve.socket() + " after " + clients + " client"
                    + (clients == 1 ? "" : "s"));
            out.flush();
        }
        return 0;
    }

    /** A new device of a kind {@link CommandLine#SERVABLE} names. */
    static EmulatedDevice device(String name) {
        return switch (name) {
            case "edu" -> new EduDevice();
            case "gpio" -> new GpioDevice();
            case "tiny" -> new TinyDevice();
            case "nobar" -> new NoBarDevice();
            default -> throw new IllegalArgumentException("no device '" + name + "' to serve (" + String.join(", ",
                    CommandLine.SERVABLE) + ")");
        };
    }

    private static void close(EmulatedDevice device) {
        if (device instanceof AutoCloseable c) {
            try {
                c.close();
            } catch (Exception e) {
                throw new IllegalStateException("closing " + device + ": " + e.getMessage(), e);
            }
        }
    }

    /** Serves until SIGTERM or SIGINT: the shutdown hook ends the wait, and the JVM exits once the server is closed. */
    static int runUntilSignalled(CommandLine.Serve serve, PrintStream out, PrintStream err) {
        CountDownLatch stop = new CountDownLatch(1);
        CountDownLatch stopped = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            stop.countDown();
            try {
                // The socket file is gone before the JVM is. A server that does not stop in time (its
                // event loop held by something) must not keep the JVM: the JVM halts when this hook
                // returns, whatever its threads are doing, and the socket is removed here instead.
                if (!stopped.await(STOP_SECONDS, TimeUnit.SECONDS)) {
                    err.println("jvfio: the server on " + serve.socket() + " did not stop within " + STOP_SECONDS
                            + " s; exiting without it");
                    err.flush();
                    Files.deleteIfExists(serve.socket());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (IOException e) {
                err.println(Main.oneLine("jvfio: cannot remove " + serve.socket() + ": " + e.getMessage()));
            }
        }, "jvfio-serve-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            return run(serve, out, err, stop);
        } finally {
            stopped.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // the JVM is shutting down: the hook is already running
            }
        }
    }
}
