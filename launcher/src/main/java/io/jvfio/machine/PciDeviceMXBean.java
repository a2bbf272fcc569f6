package io.jvfio.machine;

/**
 * One device of a running machine, as JMX shows it:
 * {@code io.jvfio:type=PciDevice,vm=VM,device=DEVICE} (DEVICE its {@code id=}, or its PCI address
 * {@code 04.0} when it has none), beside its interrupt vectors
 * ({@code io.jvfio:type=InterruptVector,vm=VM,device=DEVICE,...}). Open types only.
 */
public interface PciDeviceMXBean {

    /** Its {@code id=}; empty when it has none (as QMP's {@code qdev_id}). */
    String getId();

    /** The driver that made it ({@code vfio-pci}, {@code vfio-user-pci}, ...). */
    String getDriver();

    /** Where it sits: bus, slot and function ({@code 00:04.0}). */
    String getAddress();

    /** What it is, e.g. {@code vfio-pci 0000:01:00.0}. */
    String getName();
}
