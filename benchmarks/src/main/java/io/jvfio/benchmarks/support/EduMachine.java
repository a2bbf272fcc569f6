package io.jvfio.benchmarks.support;

import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.VirtualInterruptController;
import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vfio.passthrough.PassthroughDevice;
import io.jvfio.vfio.passthrough.PassthroughOptions;
import io.jvfio.vfio.inprocess.InProcessBackend;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vfio.user.server.VfioUserServer;
import io.jvfio.vfio.devices.EduDevice;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciHostBridge;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MASTER;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MEMORY;

/**
 * The edu device (written in Java) as a guest's driver finds it, without a vCPU: behind the
 * passthrough device model on the PCI host bridge at 00:04.0, its BARs placed and decoding, over
 * one back end: in-process (calls into the device) or vfio-user (a server in this process, on a
 * UNIX socket, with its own event loops).
 */
public final class EduMachine implements AutoCloseable {

    public static final PciDevFn AT = new PciDevFn(4, 0);
    public static final long BAR0 = 0xfe00_0000L;
    public static final long BAR1 = 0xfe10_0000L;
    public static final long BAR2 = 0xfe20_0000L;

    /** How the model reaches the device. */
    public enum Transport {
        IN_PROCESS, VFIO_USER
    }

    public final GuestMemory memory = new GuestMemory();
    public final AddressSpace space = new AddressSpace();
    public final PciHostBridge bridge = new PciHostBridge(space, PciHostBridge.DEFAULT_ECAM_BASE);
    public final VirtualInterruptController apics = new VirtualInterruptController(1);
    public final InterruptRouter router = new InterruptRouter(apics);
    public final EduDevice edu = new EduDevice();
    public final VfioBackend backend;
    public final PassthroughDevice device;
    private final Path dir;
    private final VfioUserServer server;

    public EduMachine(Transport transport) {
        memory.addRegion("ram", 0, MemoryBackend.memfd("bench-ram", 16 << 20, false));
        if (transport == Transport.VFIO_USER) {
            try {
                dir = Files.createTempDirectory("jvfio-bench");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            server = VfioUserServer.start(dir.resolve("edu.sock"), edu);
            backend = VfioUserClient.connect(dir.resolve("edu.sock"), 5000, memory);
        } else {
            dir = null;
            server = null;
            backend = InProcessBackend.attach("edu in-process", edu, memory);
        }
        device = new PassthroughDevice("edu " + transport, backend, PassthroughOptions.DEFAULT, space, router);
        bridge.add(AT, false, device, "bench");
        int devfn = AT.devfn();
        bridge.configWrite(devfn, 0x10, 4, (int) BAR0);
        bridge.configWrite(devfn, 0x14, 4, (int) BAR1);
        bridge.configWrite(devfn, 0x18, 4, (int) BAR2);
        bridge.configWrite(devfn, 0x1c, 4, 0);
        bridge.configWrite(devfn, 0x04, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    }

    @Override
    public void close() {
        device.close();
        router.close();
        backend.close();
        if (server != null) {
            server.close();
        }
        edu.close();
        memory.close();
        if (dir != null) {
            try {
                Files.deleteIfExists(dir.resolve("edu.sock"));
                Files.deleteIfExists(dir);
            } catch (IOException e) {
                // a temporary directory left behind
            }
        }
    }
}
