/**
 * The hypervisor side of jvfio: Linux system calls, address spaces and buses, the PCI host bridge,
 * QEMU-style options, the device-driver SPI and KVM.
 *
 * <p>The JNA bindings ({@code io.jvfio.vmm.linux.jna}), the ioctl calls made with the kernel's
 * requests ({@code io.jvfio.vmm.linux.ioctl}) and the Linux ABI mirrors ({@code io.jvfio.vmm.linux.kvm},
 * {@code io.jvfio.vmm.linux.vfio},
 * {@code io.jvfio.vmm.linux.iommufd}) are exported only to the jvfio modules that use them: they are the
 * C library and the kernel's structs and ioctl numbers, laid out for JNA, and change with glibc and
 * the kernel headers rather than with jvfio's API. No exported signature names them
 * ({@code -Xlint:exports} in the build keeps it so).
 */
// "module": the qualified exports name modules built after this one, which javac cannot see here ("module
// not found"). "requires-automatic": JNA is an automatic module, but its name is JNA's own choice (its
// manifest's Automatic-Module-Name, the name of its jna-jpms module too), not one derived from a file name.
@SuppressWarnings({"module", "requires-automatic"})
module io.jvfio.vmm {
    // JNA stays behind the API: no exported signature names a JNA type.
    requires com.sun.jna;
    requires org.slf4j;

    exports io.jvfio;
    exports io.jvfio.kvm;
    exports io.jvfio.vmm.bus;
    exports io.jvfio.vmm.device;
    exports io.jvfio.vmm.linux;
    exports io.jvfio.vmm.migration;
    exports io.jvfio.vmm.options;
    exports io.jvfio.vmm.pci;
    exports io.jvfio.vmm.pcie;
    exports io.jvfio.vmm.range;

    // The JNA bindings, the ioctl calls and the ABI mirrors: each only to the jvfio modules that use it.
    exports io.jvfio.vmm.linux.jna to io.jvfio.memory, io.jvfio.irq, io.jvfio.vfio;
    exports io.jvfio.vmm.linux.ioctl to io.jvfio.vfio;
    exports io.jvfio.vmm.linux.kvm to io.jvfio.irq;
    exports io.jvfio.vmm.linux.vfio to io.jvfio.vfio;
    exports io.jvfio.vmm.linux.iommufd to io.jvfio.vfio;

    // DeviceRegistry finds the drivers -device names (vfio-passthrough's, and third-party ones).
    uses io.jvfio.vmm.device.DeviceDriver;
    // vmm-core's own: the PCI Express root port.
    provides io.jvfio.vmm.device.DeviceDriver with io.jvfio.vmm.pcie.PcieRootPortDriver;
}
