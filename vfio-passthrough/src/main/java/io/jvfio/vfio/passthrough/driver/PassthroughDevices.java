package io.jvfio.vfio.passthrough.driver;

import io.jvfio.irq.InterruptRouter;
import io.jvfio.memory.GuestMemory;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vfio.kernel.VfioContainer;
import io.jvfio.vfio.kernel.VfioDevice;
import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.kernel.VfioGroup;
import io.jvfio.vfio.kernel.PciSysfs;
import io.jvfio.vfio.passthrough.PassthroughDevice;
import io.jvfio.vfio.passthrough.PassthroughOptions;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.device.DeviceConfig;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciHostBridge;
import io.jvfio.vmm.pci.PciIntxRouting;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The passed-through devices of one VM, built from their {@code -device} options: each one's back
 * end opened (kernel VFIO: one container for the VM, each IOMMU group once, guest RAM mapped at
 * IOVA = guest physical address; vfio-user: a connection, guest RAM offered with DMA_MAP), its device
 * model built and placed on the host bridge at its {@code addr=}. Closing undoes it all, in reverse.
 */
public final class PassthroughDevices implements AutoCloseable {

    /** One device: its model, where the guest sees it, and what its option said. */
    public record Placed(PassthroughDevice device, PciDevFn at, DeviceConfig config) {
    }

    private final AddressSpace space;
    private final PciHostBridge bridge;
    private final InterruptRouter router;
    private final GuestMemory memory;
    private final PciSysfs sysfs;
    private final List<Placed> placed = new ArrayList<>();
    private final List<VfioBackend> backends = new ArrayList<>();
    private final Map<Integer, VfioGroup> groups = new HashMap<>();
    private VfioContainer container;

    public PassthroughDevices(AddressSpace space, PciHostBridge bridge, InterruptRouter router, GuestMemory memory,
                              PciSysfs sysfs) {
        this.space = space;
        this.bridge = bridge;
        this.router = router;
        this.memory = memory;
        this.sysfs = sysfs;
    }

    /** Opens the device {@code config} names and places its model on the bus. */
    public Placed add(DeviceConfig config) {
        String driver = config.driver().name();
        PassthroughOptions options = PassthroughOptions.of(config.properties());
        VfioBackend backend;
        String name;
        if (driver.equals(VfioUserPciDriver.NAME)) {
            Path socket = Path.of(config.properties().string(VfioUserPciDriver.SOCKET.name()));
            backend = VfioUserClient.connect(socket, config.properties().number(VfioUserPciDriver.X_MSG_TIMEOUT.name()),
                    memory);
            name = driver + " " + socket;
        } else if (driver.equals(VfioPciDriver.NAME)) {
            backend = openKernelDevice(config);
            name = driver + " " + backend.name();
        } else {
            throw new IllegalArgumentException(driver + " is not a passthrough driver");
        }
        if (config.id() != null) {
            name = name + " (" + config.id() + ")";
        }
        backends.add(backend);
        PassthroughDevice device = new PassthroughDevice(name, backend, options, space, router);
        try {
            PciDevFn at = bridge.add(options.addr(), options.multifunction(), device, driver);
            int pin = device.readConfig(io.jvfio.vmm.pci.PciRegs.PCI_INTERRUPT_PIN, 1);
            if (pin >= 1 && pin <= 4) {
                device.wireIntx(PciIntxRouting.gsi(at.slot(), pin));
            }
            Placed p = new Placed(device, at, config);
            placed.add(p);
            return p;
        } catch (RuntimeException e) {
            device.close();
            throw e;
        }
    }

    private VfioDevice openKernelDevice(DeviceConfig config) {
        io.jvfio.vmm.pci.PciAddress address = config.properties().has(VfioPciDriver.HOST.name())
                ? config.properties().pciAddress(VfioPciDriver.HOST.name())
                : sysfs.addressOf(Path.of(config.properties().string(VfioPciDriver.SYSFSDEV.name())));
        if (!sysfs.exists(address)) {
            throw new VfioException("there is no PCI device " + address + " on this host (lspci -D lists them)");
        }
        if (container == null) {
            container = VfioContainer.open();
        }
        int id = sysfs.iommuGroup(address);
        VfioGroup group = groups.get(id);
        if (group == null) {
            group = VfioGroup.open(id, sysfs);
            try {
                boolean first = container.groups().isEmpty();
                group.attachTo(container);
                if (first) {
                    memory.addListener(container); // guest RAM at IOVA = guest physical address
                }
            } catch (RuntimeException e) {
                group.close();
                throw e;
            }
            groups.put(id, group);
        }
        return group.openDevice(address);
    }

    public List<Placed> placed() {
        return List.copyOf(placed);
    }

    @Override
    public void close() {
        for (int i = placed.size() - 1; i >= 0; i--) {
            placed.get(i).device().close();
        }
        for (int i = backends.size() - 1; i >= 0; i--) {
            backends.get(i).close();
        }
        if (container != null && !container.groups().isEmpty()) {
            memory.removeListener(container);
        }
        for (VfioGroup g : groups.values()) {
            g.close();
        }
        if (container != null) {
            container.close();
        }
        placed.clear();
        backends.clear();
        groups.clear();
        container = null;
    }
}
