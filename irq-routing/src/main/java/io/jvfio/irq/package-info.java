/**
 * Interrupt delivery: device eventfds (MSI, MSI-X, INTx) read by one poller thread, published into an
 * LMAX Disruptor ring, and delivered to a virtual x86 interrupt controller or to KVM.
 */
package io.jvfio.irq;
