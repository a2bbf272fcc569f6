/**
 * Interrupt delivery: device eventfds (MSI, MSI-X, INTx) read by one epoll thread
 * ({@link io.jvfio.irq.InterruptPoller}) and delivered, with their coalesced counts, by that thread
 * (the default) or, published into an LMAX Disruptor ring, by {@link io.jvfio.irq.InterruptDispatcher}
 * ({@link io.jvfio.irq.DeliveryThread}), through the routing table to an
 * {@link io.jvfio.irq.InterruptSink}: the {@link io.jvfio.irq.VirtualInterruptController} (x86 local
 * APICs) or KVM. {@link io.jvfio.irq.InterruptRouter} puts the pieces together.
 */
package io.jvfio.irq;
