/**
 * Interrupt routing: device eventfds read by a poller, published into a Disruptor ring and
 * delivered to a virtual interrupt controller or to KVM.
 */
module io.jvfio.irq {
    requires transitive io.jvfio.vmm;
    requires com.lmax.disruptor;
    // HdrHistogram 2.2.2 names no module: this is the name Java derives from its file name.
    requires HdrHistogram;
    requires org.slf4j;

    exports io.jvfio.irq;
    exports io.jvfio.irq.ioapic;
    exports io.jvfio.kvm.irq;
}
