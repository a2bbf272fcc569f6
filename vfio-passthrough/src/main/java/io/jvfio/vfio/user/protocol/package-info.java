/**
 * The vfio-user 0.9.2 protocol as bytes: the message header, commands, payload offsets, VERSION
 * capabilities, and the error a message earns ({@link io.jvfio.vfio.user.protocol.VfioUserException}).
 * Depends on vmm-core only, and knows no socket, client or server; start at
 * {@link io.jvfio.vfio.user.protocol.VfioUserHeader} and {@link io.jvfio.vfio.user.protocol.VfioUserCommand}.
 */
package io.jvfio.vfio.user.protocol;
