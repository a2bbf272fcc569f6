/**
 * Guest RAM as KVM memory slots: {@link io.jvfio.kvm.memory.KvmRamSlots} follows a
 * {@link io.jvfio.memory.GuestMemory} as a listener, so a slot goes before its memory does. Depends
 * on {@code io.jvfio.memory} and {@code io.jvfio.kvm}.
 */
package io.jvfio.kvm.memory;
