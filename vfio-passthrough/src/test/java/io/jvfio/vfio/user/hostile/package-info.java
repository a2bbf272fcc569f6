/**
 * Hostile vfio-user clients as a library, for tests in other modules (the launcher's soak against
 * {@code jvfio --serve}): each attack class of issue 13 as one {@link io.jvfio.vfio.user.hostile.Attack},
 * and the {@link io.jvfio.vfio.user.hostile.CleanClient} that must still be served between them.
 * They speak through {@link io.jvfio.vfio.user.RawPeer}: real UNIX sockets, real SCM_RIGHTS fds.
 */
package io.jvfio.vfio.user.hostile;
