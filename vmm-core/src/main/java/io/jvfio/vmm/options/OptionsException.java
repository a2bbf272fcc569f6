package io.jvfio.vmm.options;

import io.jvfio.JvfioException;

/**
 * An option string that cannot be accepted. The message reads like QEMU's own
 * ({@code Property 'vfio-pci.hots' not found}, {@code Parameter 'addr' expects a PCI slot.function})
 * and, where there is one, says what to write instead.
 */
public final class OptionsException extends JvfioException {

    private static final long serialVersionUID = 1L;

    public OptionsException(String message) {
        super(message);
    }
}
