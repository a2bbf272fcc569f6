package io.jvfio.vmm.bus;

/** A range that cannot be placed on a bus or in an address space: it overlaps another, or is empty. */
public final class BusException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public BusException(String message) {
        super(message);
    }
}
