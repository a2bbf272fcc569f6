package io.jvfio.vmm.migration;

import io.jvfio.JvfioException;

/** A migration that cannot go on: a blocker, a stream this side cannot take, a peer that went away. */
public class MigrationException extends JvfioException {

    private static final long serialVersionUID = 1L;

    public MigrationException(String message) {
        super(message);
    }

    public MigrationException(String message, Throwable cause) {
        super(message, cause);
    }
}
