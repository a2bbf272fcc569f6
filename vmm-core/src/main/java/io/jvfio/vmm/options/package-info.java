/**
 * QEMU-style option strings ({@code -device vfio-pci,host=0000:01:00.0,addr=04.0}): split by
 * QemuOpts rules ({@link io.jvfio.vmm.options.OptionString}), checked against typed
 * {@link io.jvfio.vmm.options.Property}s into {@link io.jvfio.vmm.options.OptionValues}, with errors
 * and {@code help} in QEMU's words. Depends on {@code io.jvfio.vmm.pci} for the PCI address types;
 * start at {@link io.jvfio.vmm.options.OptionString}.
 */
package io.jvfio.vmm.options;
