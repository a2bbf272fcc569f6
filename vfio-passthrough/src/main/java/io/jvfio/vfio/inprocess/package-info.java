/**
 * A device written in Java run in the VMM's own process, with no socket:
 * {@link io.jvfio.vfio.inprocess.InProcessBackend} puts an {@link io.jvfio.vfio.emulated.EmulatedDevice}
 * behind {@link io.jvfio.vfio.VfioBackend}, so the passthrough device model drives it as it drives a
 * real device. Depends on {@code io.jvfio.vfio.emulated} and guest-memory.
 */
package io.jvfio.vfio.inprocess;
