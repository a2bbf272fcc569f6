/**
 * The device-driver SPI: a {@link io.jvfio.vmm.device.DeviceDriver} found by
 * {@link java.util.ServiceLoader} creates the device {@code -device NAME,...} names from validated
 * options, and {@link io.jvfio.vmm.device.DeviceRegistry} parses, validates and attaches. Depends on
 * {@code io.jvfio.vmm.options}, {@code io.jvfio.vmm.pci} and {@code io.jvfio.vmm.bus}, never on the
 * modules that implement devices; start at {@link io.jvfio.vmm.device.DeviceDriver}.
 */
package io.jvfio.vmm.device;
