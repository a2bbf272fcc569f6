package io.jvfio.vmm.bus;

import io.jvfio.JvfioException;

/** A range that cannot be placed on a bus or in an address space: it overlaps another, or is empty. */
public final class BusException extends JvfioException {

    private static final long serialVersionUID = 1L;

    public BusException(String message) {
        super(message);
    }
}
