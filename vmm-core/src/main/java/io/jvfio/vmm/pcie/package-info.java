/**
 * PCI Express ports with native hotplug: the Root Port ({@link io.jvfio.vmm.pcie.PcieRootPort}, a
 * PCI-to-PCI bridge on bus 0 with a hotplug slot), its slot registers and events, the
 * {@code -device pcie-root-port} driver, and the machine's side of a slot
 * ({@link io.jvfio.vmm.pcie.PcieHotplugHandler}). Depends on {@code io.jvfio.vmm.pci},
 * {@code io.jvfio.vmm.device}, {@code io.jvfio.vmm.options} and {@code io.jvfio.vmm.migration}; start at
 * {@link io.jvfio.vmm.pcie.PcieRootPort}.
 */
package io.jvfio.vmm.pcie;
