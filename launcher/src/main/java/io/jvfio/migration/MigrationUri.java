package io.jvfio.migration;

import io.jvfio.vmm.migration.MigrationException;

import java.nio.file.Path;

/**
 * Where a migration stream goes or comes from, as QEMU's {@code migrate} and {@code -incoming} take it
 * (migration/migration.c, migrate_uri_parse): {@code unix:PATH} (a stream socket: the destination
 * listens, the source connects) or {@code file:PATH} (the source writes the file, the destination reads
 * it). {@code -incoming defer} waits for {@code migrate-incoming} to name one.
 */
public record MigrationUri(Transport transport, Path path) {

    /** The transports jvfio has. */
    public enum Transport {
        UNIX, FILE
    }

    /** What {@code -incoming} takes besides a URI: wait for {@code migrate-incoming}. */
    public static final String DEFER = "defer";

    /** Parses {@code uri}; an error in QEMU's words names it and what jvfio takes. */
    public static MigrationUri parse(String uri) {
        int colon = uri.indexOf(':');
        String scheme = colon < 0 ? "" : uri.substring(0, colon);
        String rest = colon < 0 ? "" : uri.substring(colon + 1);
        switch (scheme) {
            case "unix", "file" -> {
                if (rest.isEmpty()) {
                    throw new MigrationException("'" + uri + "' names no path: give " + scheme + ":PATH");
                }
                if (scheme.equals("file") && rest.contains(",offset=")) {
                    throw new MigrationException("'" + uri + "': jvfio's file: migration takes no offset= (the stream"
                            + " starts at the file's start)");
                }
                return new MigrationUri(scheme.equals("unix") ? Transport.UNIX : Transport.FILE, Path.of(rest));
            }
            case "tcp", "exec", "rdma", "vsock", "fd" -> throw new MigrationException("'" + uri + "': jvfio migrates "
                    + "over unix:PATH or file:PATH; QEMU's " + scheme + ": transport is not in jvfio");
            default -> {
                // QEMU's wording (migration/migration.c, migrate_uri_parse), and what jvfio takes
                throw new MigrationException("unknown migration protocol: " + uri + " (give unix:PATH or file:PATH)");
            }
        }
    }

    @Override
    public String toString() {
        return (transport == Transport.UNIX ? "unix:" : "file:") + path;
    }
}
