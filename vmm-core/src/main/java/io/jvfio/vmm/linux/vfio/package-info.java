/**
 * The structs and ioctl numbers of {@code linux/vfio.h} laid out for JNA, exactly as the kernel
 * headers have them and checked against them by AbiConformanceTest. Exported only to jvfio's own
 * modules; {@code io.jvfio.vfio.kernel} is the API over them. Start at
 * {@link io.jvfio.vmm.linux.vfio.VfioIoctls}.
 */
package io.jvfio.vmm.linux.vfio;
