/**
 * The passthrough device model: a {@link io.jvfio.vfio.VfioBackend} shown to the guest as a PCI
 * function ({@link io.jvfio.vfio.passthrough.PassthroughDevice}): the virtual configuration space
 * ({@link io.jvfio.vfio.passthrough.ConfigOverlay}), INTx, MSI and MSI-X routed through irq-routing,
 * and BARs trapped or mapped into the guest. Depends on vmm-core, guest-memory, irq-routing and
 * {@code io.jvfio.vfio}, never on a particular back end.
 */
package io.jvfio.vfio.passthrough;
