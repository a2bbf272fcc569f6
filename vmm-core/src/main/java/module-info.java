/**
 * The hypervisor side of jvfio: Linux system calls, address spaces and buses, the PCI host bridge,
 * QEMU-style options, the device-driver SPI and KVM.
 *
 * <p>The Linux ABI mirrors ({@code io.jvfio.vmm.linux.kvm}, {@code io.jvfio.vmm.linux.vfio}) are
 * exported only to jvfio's own modules: they are the kernel's structs and ioctl numbers, laid out
 * for JNA, and change with the kernel headers rather than with jvfio's API.
 */
// The qualified exports name modules built after this one: javac cannot see them here ("module not found").
@SuppressWarnings("module")
module io.jvfio.vmm {
    // JNA stays behind the API: no exported signature names a JNA type.
    requires com.sun.jna;
    requires org.slf4j;

    exports io.jvfio;
    exports io.jvfio.kvm;
    exports io.jvfio.vmm.bus;
    exports io.jvfio.vmm.device;
    exports io.jvfio.vmm.linux;
    exports io.jvfio.vmm.options;
    exports io.jvfio.vmm.pci;
    exports io.jvfio.vmm.range;

    exports io.jvfio.vmm.linux.jna to io.jvfio.memory, io.jvfio.irq, io.jvfio.vfio;
    exports io.jvfio.vmm.linux.ioctl to io.jvfio.vfio;
    exports io.jvfio.vmm.linux.kvm to io.jvfio.memory, io.jvfio.irq, io.jvfio.vfio;
    exports io.jvfio.vmm.linux.vfio to io.jvfio.memory, io.jvfio.irq, io.jvfio.vfio;

    // DeviceRegistry finds the drivers -device names (vfio-passthrough's, and third-party ones).
    uses io.jvfio.vmm.device.DeviceDriver;
}
