/**
 * Kernel VFIO ({@code /dev/vfio}): containers, IOMMU groups and device fds
 * ({@link io.jvfio.vfio.kernel.VfioContainer}, {@link io.jvfio.vfio.kernel.VfioGroup},
 * {@link io.jvfio.vfio.kernel.VfioDevice}), guest RAM mapped into the IOMMU with Type1 DMA_MAP, and
 * sysfs for binding to vfio-pci. Depends on {@code io.jvfio.vfio}, guest-memory and the
 * {@code linux/vfio.h} mirrors; start at {@link io.jvfio.vfio.kernel.KernelVfio}.
 */
package io.jvfio.vfio.kernel;
