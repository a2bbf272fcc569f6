package io.jvfio.irq.jmx;

/**
 * One interrupt vector of one device, as JMX shows it: the route's counters and latencies
 * ({@link io.jvfio.irq.RouteStats}) read when an attribute is read, the same numbers QMP's
 * {@code x-query-interrupts} gives. Only open types (strings, numbers, booleans), so that a generic JMX
 * client reads them without jvfio's classes. Registered as
 * {@code io.jvfio:type=InterruptVector,vm=VM,device=DEVICE,kind=msix|msi|intx,vector=N}.
 */
public interface InterruptVectorMXBean {

    /** The device: its {@code id=}, or its PCI address ({@code 04.0}) when it has none. */
    String getDevice();

    /** {@code msix}, {@code msi} or {@code intx}. */
    String getKind();

    /** The vector's number (0 for INTx, whose one line VFIO calls vector 0). */
    int getVector();

    /** The route's name in jvfio's logs and reports, e.g. {@code vfio-pci 0000:01:00.0 MSI-X 3}. */
    String getRoute();

    /**
     * {@code irqfd} if KVM's irqfd bypass carried the vector at some time (the kernel delivers; user space
     * counts only what passed while masked or being programmed), {@code ring} if user space carries it.
     */
    String getPath();

    /** Whether the kernel's bypass carries the vector now. */
    boolean isBypassed();

    /** Whether the guest has masked the vector. */
    boolean isMasked();

    /** The pending bit (what the MSI-X PBA shows). */
    boolean isPending();

    /** Interrupts (eventfd increments) that reached the interrupt controller. */
    long getDelivered();

    /** Of those, how many arrived merged with another into one message. */
    long getCoalesced();

    /** Interrupts that arrived while the vector was masked (since delivered or still pending). */
    long getMaskedPending();

    /** Interrupts the interrupt controller refused (bad address, reserved vector, no destination). */
    long getUndeliverable();

    /** Messages sent to the interrupt controller. */
    long getMessages();

    /** Deliveries timed, from the eventfd's read to the delivery. */
    long getLatencyCount();

    /** The median of those times, in nanoseconds. */
    long getLatencyP50Nanos();

    /** Their 99th percentile, in nanoseconds. */
    long getLatencyP99Nanos();

    /** The longest, in nanoseconds. */
    long getLatencyMaxNanos();
}
