/**
 * Kernel VFIO: the group and container back end ({@code /dev/vfio}: {@link io.jvfio.vfio.kernel.VfioContainer},
 * {@link io.jvfio.vfio.kernel.VfioGroup}, guest RAM mapped with Type1 DMA_MAP) and the iommufd back end
 * ({@code /dev/iommu} and the device cdev: {@link io.jvfio.vfio.kernel.Iommufd},
 * {@link io.jvfio.vfio.kernel.IommufdIoas}, {@link io.jvfio.vfio.kernel.VfioDeviceCdev}), one
 * {@link io.jvfio.vfio.kernel.IommuAddressSpace} each; device fds from either
 * ({@link io.jvfio.vfio.kernel.VfioDevice}), and sysfs for finding and binding devices. Depends on
 * {@code io.jvfio.vfio}, guest-memory, vmm-core's options and the {@code linux/vfio.h} and
 * {@code linux/iommufd.h} mirrors; start at {@link io.jvfio.vfio.kernel.KernelVfio}.
 */
package io.jvfio.vfio.kernel;
