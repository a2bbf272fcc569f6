/**
 * The vfio-user server: {@link io.jvfio.vfio.user.server.VfioUserServer} serves one
 * {@link io.jvfio.vfio.emulated.EmulatedDevice} on a UNIX socket, one client at a time, checking
 * every command in full before the device sees it ({@link io.jvfio.vfio.user.server.ServerSession}).
 * Depends on the protocol and transport packages and {@code io.jvfio.vfio.emulated}.
 */
package io.jvfio.vfio.user.server;
