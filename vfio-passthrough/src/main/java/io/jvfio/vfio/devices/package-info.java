/**
 * Devices written with {@code io.jvfio.vfio.emulated}: QEMU's {@code edu} device
 * ({@link io.jvfio.vfio.devices.EduDevice}, register-compatible with {@code docs/specs/edu.rst}) and
 * small test functions (an I/O-BAR GPIO card, a sub-page BAR, a function with no BARs). Depends on
 * {@code io.jvfio.vfio.emulated}, vmm-core's PCI configuration space and guest-memory's memfd backend,
 * never on a transport; start at {@link io.jvfio.vfio.devices.EduDevice}.
 */
package io.jvfio.vfio.devices;
