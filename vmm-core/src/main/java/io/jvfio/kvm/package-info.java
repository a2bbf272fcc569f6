/**
 * KVM ({@code /dev/kvm}): the subsystem and whether it is usable ({@link io.jvfio.kvm.Kvm#usable()}),
 * a VM with its memory slots and in-kernel irqchip ({@link io.jvfio.kvm.KvmVm}), its vCPUs run one
 * thread each ({@link io.jvfio.kvm.Vcpus}, {@link io.jvfio.kvm.KvmVcpu}) and their exits dispatched to
 * the buses of {@code io.jvfio.vmm.bus}. Built on the {@code linux/kvm.h} mirrors of
 * {@code io.jvfio.vmm.linux.kvm}; start at {@link io.jvfio.kvm.Kvm}.
 */
package io.jvfio.kvm;
