/**
 * A device written in Java run in the VMM's own process, with no socket:
 * {@link io.jvfio.vfio.inprocess.InProcessBackend} puts an {@link io.jvfio.vfio.emulated.EmulatedDevice}
 * behind {@link io.jvfio.vfio.VfioBackend}, so the passthrough device model drives it as it drives a
 * real device, and migrates it as a vfio-user server does ({@code InProcessMigration}, by the device's
 * save and load hooks). Depends on {@code io.jvfio.vfio.emulated} (with its host),
 * {@code io.jvfio.vfio.migration}, {@code io.jvfio.vmm.migration} and guest-memory.
 */
package io.jvfio.vfio.inprocess;
