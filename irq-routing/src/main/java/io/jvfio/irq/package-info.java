/**
 * Interrupt delivery: device eventfds (MSI, MSI-X, INTx) read by one epoll thread
 * ({@link io.jvfio.irq.InterruptPoller}), published with their coalesced counts into an LMAX Disruptor
 * ring, and delivered by {@link io.jvfio.irq.InterruptDispatcher} through the routing table to an
 * {@link io.jvfio.irq.InterruptSink}: the {@link io.jvfio.irq.VirtualInterruptController} (x86 local
 * APICs) or KVM. {@link io.jvfio.irq.InterruptRouter} puts the pieces together.
 */
package io.jvfio.irq;
