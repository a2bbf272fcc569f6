/**
 * The C library through JNA, internal to jvfio: {@link io.jvfio.vmm.linux.jna.LibC} (direct-mapped
 * natives that return -1 and leave errno), the constants of the C headers
 * ({@link io.jvfio.vmm.linux.jna.LinuxConstants}), off-heap struct mirrors
 * ({@link io.jvfio.vmm.linux.jna.NativeStruct} with its {@link io.jvfio.vmm.linux.jna.StructLayout}),
 * ioctl numbers ({@link io.jvfio.vmm.linux.jna.IoctlRequest}) and the address of a direct buffer.
 *
 * <p>Not API: the module exports this package only to jvfio's own modules, and no exported signature
 * names its types. Callers use {@link io.jvfio.vmm.linux}, which turns a failed call into a
 * {@link io.jvfio.vmm.linux.SyscallException}. It depends on nothing else of jvfio's but
 * {@link io.jvfio.vmm.range}, so {@code io.jvfio.vmm.linux} builds on it and never the other way round.
 * AbiConformanceTest checks every layout and constant here against the compiler and the headers.
 */
package io.jvfio.vmm.linux.jna;
