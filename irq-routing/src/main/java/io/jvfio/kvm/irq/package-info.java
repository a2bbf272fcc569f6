/**
 * Interrupt delivery into a KVM guest: {@link io.jvfio.kvm.irq.KvmMsiSink} injects MSI messages with
 * KVM_SIGNAL_MSI, and {@link io.jvfio.kvm.irq.KvmIrqfdBypass} binds device eventfds to GSIs with
 * KVM_IRQFD so the kernel delivers them without a user-space thread. Depends on {@code io.jvfio.irq}
 * and {@code io.jvfio.kvm}.
 */
package io.jvfio.kvm.irq;
