/**
 * The QMP monitor: QEMU's machine protocol (JSON over a UNIX socket or standard input and output) through
 * which a management layer (libvirt, KubeVirt, a cloud's agent) drives a running jvfio machine: capabilities
 * negotiation, commands ({@code query-status}, {@code stop}, {@code cont}, {@code system_reset},
 * {@code quit}, {@code query-pci}, {@code x-query-interrupts} ...), their errors with QEMU's classes and
 * wording, and the asynchronous events. It sees the machine through {@link io.jvfio.machine.VirtualMachine}
 * only; the {@code jvfio} command ({@code io.jvfio.launcher}) opens it for {@code -qmp} and for {@code -chardev}
 * with {@code -mon}.
 */
package io.jvfio.qmp;
