/**
 * What every VFIO back end shares: the {@link io.jvfio.vfio.VfioBackend} interface the passthrough
 * device model is written against (kernel VFIO, vfio-user, in-process), a device's regions and
 * interrupt indexes as VFIO describes them ({@link io.jvfio.vfio.VfioDeviceLayout}), and
 * {@link io.jvfio.vfio.VfioException}. Its classes depend on vmm-core only; the back ends depend on
 * it. Start at {@link io.jvfio.vfio.VfioBackend}.
 */
package io.jvfio.vfio;
