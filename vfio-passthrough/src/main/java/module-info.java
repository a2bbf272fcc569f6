/**
 * VFIO for jvfio: kernel VFIO, the vfio-user protocol with its transport, client and server, the
 * API for writing a PCI device in Java with its in-process back end, the devices written with it,
 * and the passthrough device model.
 *
 * <p>What a hosted device reaches ({@code io.jvfio.vfio.emulated.host}) and the drivers
 * ({@code io.jvfio.vfio.passthrough.driver}, reached through {@link io.jvfio.vmm.device.DeviceDriver})
 * stay unexported.
 */
// JNA is an automatic module, but its name is JNA's own choice (its manifest's Automatic-Module-Name, the
// name of its jna-jpms module too), not one derived from a file name.
@SuppressWarnings("requires-automatic")
module io.jvfio.vfio {
    requires transitive io.jvfio.vmm;
    requires transitive io.jvfio.memory;
    requires transitive io.jvfio.irq;
    // EmulatedDevice's register accesses take a ByteBuf.
    requires transitive io.netty.buffer;
    // VfioUserConnection is an epoll I/O handle on Netty's event loop, and its API says so.
    requires transitive io.netty.transport;
    requires transitive io.netty.transport.classes.epoll;
    requires transitive io.netty.transport.unix.common;
    requires io.netty.common;
    requires com.fasterxml.jackson.core;
    requires com.sun.jna;
    requires org.slf4j;

    exports io.jvfio.vfio;
    exports io.jvfio.vfio.kernel;
    exports io.jvfio.vfio.migration;
    exports io.jvfio.vfio.user.protocol;
    exports io.jvfio.vfio.user.transport;
    exports io.jvfio.vfio.user.client;
    exports io.jvfio.vfio.user.server;
    exports io.jvfio.vfio.emulated;
    exports io.jvfio.vfio.inprocess;
    exports io.jvfio.vfio.devices;
    exports io.jvfio.vfio.passthrough;

    provides io.jvfio.vmm.device.DeviceDriver
        with io.jvfio.vfio.passthrough.driver.VfioPciDriver, io.jvfio.vfio.passthrough.driver.VfioUserPciDriver;
}
