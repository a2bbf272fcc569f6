/**
 * An emulated I/O APIC (Intel 82093AA) for machines without KVM's in-kernel irqchip: INTx lines
 * become messages through the guest-programmed {@link io.jvfio.irq.ioapic.RedirectionEntry}s, with
 * EOI resampling for level-triggered lines. Depends on {@code io.jvfio.irq} and
 * {@code io.jvfio.vmm.bus}; start at {@link io.jvfio.irq.ioapic.IoApic}.
 */
package io.jvfio.irq.ioapic;
