package io.jvfio.launcher;

import io.jvfio.memory.GuestMemory;
import io.jvfio.vfio.VfioIrq;
import io.jvfio.vfio.VfioRegion;
import io.jvfio.vfio.user.VfioUserClient;
import io.jvfio.vfio.user.VfioUserPciDriver;
import io.jvfio.vmm.device.DeviceConfig;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX;

/**
 * {@code -device vfio-user-pci}: connects to the server, negotiates, reads the device and maps guest
 * RAM for its DMA, so that a wrong socket, a dead server or a refused DMA_MAP shows at start-up
 * with the server's own words.
 */
final class VfioUserAttach {

    private VfioUserAttach() {
    }

    /** Connects, describes what the server offers in one line, and disconnects. */
    static String describe(DeviceConfig d, GuestMemory memory) {
        Path socket = Path.of(d.properties().string(VfioUserPciDriver.SOCKET.name()));
        long timeout = d.properties().number(VfioUserPciDriver.X_MSG_TIMEOUT.name());
        try (VfioUserClient client = VfioUserClient.connect(socket, timeout, memory)) {
            long id = client.read(VFIO_PCI_CONFIG_REGION_INDEX, 0, 4);
            long classCode = client.read(VFIO_PCI_CONFIG_REGION_INDEX, 8, 4) >>> 8;
            List<String> regions = new ArrayList<>();
            for (VfioRegion r : client.regions()) {
                if (r.present()) {
                    regions.add(r.name() + " " + size(r.size()) + (r.mmappable() ? " mmap" : ""));
                }
            }
            List<String> irqs = new ArrayList<>();
            for (VfioIrq q : client.irqs()) {
                if (q.count() > 0) {
                    irqs.add(q.name() + (q.count() > 1 ? " x" + q.count() : ""));
                }
            }
            return String.format("[%04x:%04x] class %06x over vfio-user: %s; %s; guest RAM mapped for DMA in %d "
                    + "window%s", id & 0xFFFF, id >>> 16, classCode, String.join(", ", regions), String.join(", ", irqs),
                    client.dmaWindows(), client.dmaWindows() == 1 ? "" : "s");
        }
    }

    private static String size(long bytes) {
        if (bytes >= 1 << 20 && bytes % (1 << 20) == 0) {
            return (bytes >> 20) + "M";
        }
        if (bytes >= 1 << 10 && bytes % (1 << 10) == 0) {
            return (bytes >> 10) + "K";
        }
        return bytes + "B";
    }
}
