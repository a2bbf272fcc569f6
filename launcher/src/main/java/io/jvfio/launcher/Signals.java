package io.jvfio.launcher;

import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.linux.jna.SigAction;

/**
 * SIGINT as the command's users send it. A shell starts a background job of a script
 * ({@code ./jvfio --serve ... &}) with SIGINT ignored, and the JVM leaves an ignored SIGINT
 * ignored: {@code kill -INT} would then do nothing, and Ctrl-C could not stop a server a script
 * started. QEMU installs its SIGINT handler whatever the disposition it inherited (os-posix.c,
 * os_setup_signal_handling), and so does jvfio: the default disposition is restored, then the JVM's
 * handler installed, which runs the shutdown hooks (socket and directory removal) and exits with
 * 130 (128 + SIGINT), as the JVM does for a SIGINT it handles itself.
 */
final class Signals {

    static final int SIGINT = 2;
    private static final long SIG_DFL = 0;
    private static final long SIG_IGN = 1;

    private Signals() {
    }

    /** Makes SIGINT stop the JVM even where this process was started with it ignored; true if it was. */
    static boolean catchSigintEvenIfIgnored() {
        SigAction current = new SigAction();
        if (LibC.sigaction(SIGINT, 0L, current.address()) < 0 || current.handler() != SIG_IGN) {
            return false; // the JVM has installed its own handler already
        }
        SigAction dfl = new SigAction().set(SIG_DFL, 0);
        if (LibC.sigaction(SIGINT, dfl.address(), 0L) < 0) {
            return false;
        }
        // With the default disposition back, the JVM installs its handler (it refuses over SIG_IGN).
        @SuppressWarnings("removal")
        sun.misc.Signal sigint = new sun.misc.Signal("INT");
        sun.misc.Signal.handle(sigint, s -> System.exit(128 + s.getNumber()));
        return true;
    }
}
