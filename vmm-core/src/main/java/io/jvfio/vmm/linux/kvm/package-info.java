/**
 * The structs and ioctl numbers of {@code linux/kvm.h} (x86_64) laid out for JNA, exactly as the
 * kernel headers have them and checked against them by AbiConformanceTest. Exported only to jvfio's
 * own modules; {@code io.jvfio.kvm} is the API over them. Start at {@link io.jvfio.vmm.linux.kvm.KvmIoctls}.
 */
package io.jvfio.vmm.linux.kvm;
