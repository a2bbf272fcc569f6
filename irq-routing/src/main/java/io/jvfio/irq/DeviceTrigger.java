package io.jvfio.irq;

import io.jvfio.vmm.linux.EventFd;

/**
 * Where a device signals one MSI or MSI-X vector, for a route that may hand it to the kernel's
 * bypass: a second eventfd, bound in the kernel (KVM_IRQFD) for as long as the route lives, and a way
 * to make the device signal it or the route's own trigger. This is how QEMU's vfio-pci does it
 * ({@code vector->interrupt} and {@code vector->kvm_interrupt}, switched with VFIO_DEVICE_SET_IRQS in
 * vfio_msix_vector_do_use and vfio_msix_vector_release), and why: binding KVM_IRQFD to an eventfd the
 * device may be signalling at that moment can inject one signal twice. kvm_irqfd_assign polls the
 * eventfd after hooking its wait entry, and eventfd_poll reads the counter without the lock, so it can
 * see a signal whose wake-up irqfd_wakeup is still delivering (and taking from the counter) on another
 * CPU; both then inject. Here the kernel's eventfd is bound before the device is told to use it, so
 * nothing signals it while it is being bound.
 */
public interface DeviceTrigger {

    /**
     * The eventfd the kernel reads while the route is bypassed. Owned by the caller; nothing but the
     * device signals it, and only after {@link #signalOn} named it.
     */
    EventFd bypassEventFd();

    /**
     * From now on the device signals {@code eventfd}: the route's trigger, or {@link #bypassEventFd()}.
     * A signal the device made before this call may still arrive on the other one (as in the kernel,
     * where an interrupt in flight reaches the eventfd it was raised for). Throws if the device refuses.
     */
    void signalOn(EventFd eventfd);
}
