package io.jvfio.vmm.pci;

import io.jvfio.JvfioException;

/** A function cannot go where it was asked to ({@code addr=}, {@code multifunction=}), in QEMU's words. */
public final class PciPlacementException extends JvfioException {

    private static final long serialVersionUID = 1L;

    public PciPlacementException(String message) {
        super(message);
    }
}
