/**
 * The vfio-user transport: one UNIX stream socket per {@link io.jvfio.vfio.user.transport.VfioUserConnection}
 * on a Netty epoll event loop, carrying framed messages with their fds (a client's replies read by
 * the threads that wait for them), with requests matched to replies
 * ({@link io.jvfio.vfio.user.transport.PendingRequests}) and a peer held to
 * {@link io.jvfio.vfio.user.transport.ConnectionLimits}. Its classes depend on
 * {@code io.jvfio.vfio.user.protocol} and vmm-core only: the client and the server use the transport,
 * and no class of it sees them or the device model.
 */
package io.jvfio.vfio.user.transport;
