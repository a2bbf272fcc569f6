package io.jvfio.vfio.user.protocol;

import io.jvfio.JvfioException;
import io.jvfio.vmm.linux.Errno;

/**
 * A vfio-user message that cannot be honoured, with the errno its error reply carries (spec: the
 * Error field of a reply with the Error flag set).
 */
public final class VfioUserException extends JvfioException {

    private static final long serialVersionUID = 1L;

    private final Errno errno;

    public VfioUserException(Errno errno, String message) {
        super(message);
        this.errno = errno;
    }

    public Errno errno() {
        return errno;
    }
}
