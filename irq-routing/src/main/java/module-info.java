/**
 * Interrupt routing: device eventfds read by a poller and delivered by it (or, as an option, through a
 * Disruptor ring by a dispatcher thread) to a virtual interrupt controller or to KVM.
 */
module io.jvfio.irq {
    requires transitive io.jvfio.vmm;
    requires com.lmax.disruptor;
    // InterruptRoute's latency histograms. HdrHistogram 2.2.2 names no module (no module-info, no
    // Automatic-Module-Name: its bundle plugin drops the one its build sets, HdrHistogram PR #226), so this
    // is the name Java derives from the jar's file name, and javac's requires-automatic warning and Maven's
    // "filename-based automodules" banner are left on: they are true. 2.2.1 shipped a module named
    // org.HdrHistogram (broken, issue #206); a release that names itself again will need this line changed
    // for module-path users, so the warning stays visible until then.
    requires HdrHistogram;
    requires org.slf4j;
    // The routes' statistics as MBeans (io.jvfio.irq.jmx); the package is exported for the MBean server to
    // read the MXBean interface.
    requires java.management;

    exports io.jvfio.irq;
    exports io.jvfio.irq.ioapic;
    exports io.jvfio.irq.jmx;
    exports io.jvfio.kvm.irq;
}
