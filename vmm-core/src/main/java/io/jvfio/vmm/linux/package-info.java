/**
 * Linux for the rest of jvfio: the C library (bound through JNA in the internal
 * {@code io.jvfio.vmm.linux.jna}) wrapped as {@link io.jvfio.vmm.linux.Syscalls} that turn -1 into a
 * {@link io.jvfio.vmm.linux.SyscallException} naming the call and the errno, and owned resources built
 * on them (file descriptors, eventfds, epoll, mmap'd memory, UNIX sockets with fd passing). Start at
 * {@link io.jvfio.vmm.linux.Syscalls}.
 */
package io.jvfio.vmm.linux;
