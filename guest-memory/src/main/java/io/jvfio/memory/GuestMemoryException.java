package io.jvfio.memory;

import io.jvfio.JvfioException;

/**
 * A guest memory access or configuration that cannot be honoured: an address outside guest RAM, an
 * access crossing a region's end, overlapping regions, a size that is not a page multiple. The
 * message names the address and the region concerned.
 */
public final class GuestMemoryException extends JvfioException {

    private static final long serialVersionUID = 1L;

    public GuestMemoryException(String message) {
        super(message);
    }

    public GuestMemoryException(String message, Throwable cause) {
        super(message, cause);
    }
}
