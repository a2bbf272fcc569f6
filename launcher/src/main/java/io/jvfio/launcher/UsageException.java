package io.jvfio.launcher;

/** A command line that cannot be run: the one line the launcher prints before exiting with status 1. */
final class UsageException extends Exception {

    private static final long serialVersionUID = 1L;

    UsageException(String message) {
        super(message);
    }
}
