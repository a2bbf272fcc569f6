/**
 * Device migration as VFIO defines it (migration v2), shared by kernel VFIO and vfio-user, whose
 * DEVICE_FEATURE carries the same states and flags: the device's migration states and the state
 * machine's legal arcs, from which a state change is walked one arc at a time.
 */
package io.jvfio.vfio.migration;
