/**
 * The virtual machine a Java hypervisor embeds, without the {@code jvfio} command line. Start at
 * {@link io.jvfio.machine.VirtualMachine#builder()}: guest RAM, the accelerator (KVM vCPUs, or none
 * with the host driving the devices), the vCPUs, and the devices, each by a {@code -device} option
 * string or as an object built from the machine's {@link io.jvfio.vmm.device.MachineContext}; then
 * {@code build()}, load the guest into {@link io.jvfio.machine.VirtualMachine#memory()} and start
 * {@link io.jvfio.machine.VirtualMachine#vcpus()}. {@code examples/embedding} in the source tree is
 * such a program, built against the published artifacts. What a device may do with guest memory
 * (DMA) is stated on {@code io.jvfio.memory}.
 *
 * <p>It is the composition root of the library modules (vmm-core, guest-memory, irq-routing,
 * vfio-passthrough) and lives in the launcher's artifact, the one module that sees them all; the
 * {@code jvfio} command ({@code io.jvfio.launcher}) builds its machine with it, and nothing here
 * depends on the command.
 */
package io.jvfio.machine;
