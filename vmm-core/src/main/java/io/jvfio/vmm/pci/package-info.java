/**
 * The guest's PCI bus 0: the host bridge with configuration mechanism #1 and ECAM
 * ({@link io.jvfio.vmm.pci.PciHostBridge}), PCI functions with their configuration space and BARs
 * ({@link io.jvfio.vmm.pci.PciFunction}, {@link io.jvfio.vmm.pci.PciConfigSpace}), INTx swizzling,
 * and the register names of {@code linux/pci_regs.h} ({@link io.jvfio.vmm.pci.PciRegs}). Depends on
 * {@code io.jvfio.vmm.bus} and {@code io.jvfio.vmm.migration} (the bridge and its own function migrate); start at {@link io.jvfio.vmm.pci.PciHostBridge}.
 */
package io.jvfio.vmm.pci;
