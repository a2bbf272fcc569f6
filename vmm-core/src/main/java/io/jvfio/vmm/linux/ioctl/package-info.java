/**
 * {@code ioctl} on an {@link io.jvfio.vmm.linux.OwnedFd} with a request and argument from the kernel's
 * ABI mirrors ({@code io.jvfio.vmm.linux.kvm}, {@code io.jvfio.vmm.linux.vfio}), internal to jvfio:
 * exported only to the jvfio modules that drive the kernel (KVM in this module, kernel VFIO in
 * io.jvfio.vfio), which offer their API above it.
 */
package io.jvfio.vmm.linux.ioctl;
