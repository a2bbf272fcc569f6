package io.jvfio;

/**
 * The root of every failure jvfio reports: a caller that means "any jvfio failure" catches this,
 * and one that must tell them apart catches the specific type beneath it (a failed syscall, a bus
 * or PCI placement refused, options refused, a vCPU failure, guest memory, VFIO, vfio-user, a
 * device gone).
 *
 * <p>Unchecked, as each of those was: a VMM cannot recover from most of them, and the layers that
 * can catch the specific type where it is thrown. Not sealed: the types live in several packages
 * and modules, which a sealed class on the class path cannot permit; the exception-root test scans
 * the classes instead, so that a new exception type cannot forget this base.
 */
public abstract class JvfioException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    protected JvfioException(String message) {
        super(message);
    }

    protected JvfioException(String message, Throwable cause) {
        super(message, cause);
    }
}
