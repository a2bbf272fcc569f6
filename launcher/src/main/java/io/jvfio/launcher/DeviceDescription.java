package io.jvfio.launcher;

import io.jvfio.vfio.VfioBackend;
import io.jvfio.vfio.VfioIrq;
import io.jvfio.vfio.VfioRegion;
import io.jvfio.vfio.kernel.VfioDevice;
import io.jvfio.vfio.passthrough.PassthroughDevice;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vmm.pci.PciBar;
import io.jvfio.vmm.pci.PciFunction;

import java.util.ArrayList;
import java.util.List;

/**
 * One line on what a device brought: for a passed-through one, its transport, regions and
 * interrupts; for one another driver made, its BARs as the function declares them.
 */
final class DeviceDescription {

    private DeviceDescription() {
    }

    static String describe(PciFunction function) {
        if (function instanceof PassthroughDevice device) {
            return describe(device);
        }
        List<String> bars = new ArrayList<>();
        for (PciBar bar : function.bars()) {
            bars.add(bar.name() + " " + size(bar.size()) + (bar.isIo() ? " I/O" : ""));
        }
        return "made by " + function.getClass().getName() + ": " + (bars.isEmpty() ? "no BARs" : String.join(", ", bars));
    }

    static String describe(PassthroughDevice device) {
        VfioBackend backend = device.backend();
        List<String> regions = new ArrayList<>();
        for (VfioRegion r : backend.regions()) {
            if (!r.present()) {
                continue;
            }
            PciBar bar = device.bars().stream().filter(b -> b.index() == r.index()).findFirst().orElse(null);
            boolean mmap = r.mmappable() && !device.options().noMmap();
            String how;
            if (bar != null && bar.isIo()) {
                how = " I/O";
            } else if (bar != null && !bar.isRom() && PassthroughDevice.underAPage(bar)) {
                // KVM takes no memory slot under a page: say that such a BAR traps, mmap-able or not.
                how = mmap ? " mmap-able but under a page: trapped" : " under a page: trapped";
            } else {
                how = mmap ? " mmap" : "";
            }
            regions.add(r.name() + " " + size(r.size()) + how);
        }
        List<String> irqs = new ArrayList<>();
        for (VfioIrq q : backend.irqs()) {
            if (q.count() > 0) {
                irqs.add(q.name() + (q.count() > 1 ? " x" + q.count() : ""));
            }
        }
        String dma = backend instanceof VfioUserClient c ? "; guest RAM offered for DMA in " + c.dmaWindows()
                + " window" + (c.dmaWindows() == 1 ? "" : "s") : "";
        String hidden = device.hiddenCapabilities().isEmpty() ? "" : "; " + device.hiddenCapabilities().size()
                + " capabilities hidden";
        String transport = backend instanceof VfioUserClient ? "vfio-user"
                : backend instanceof VfioDevice d && d.cdev() != null ? "kernel VFIO (" + d.cdev() + ")"
                : backend instanceof VfioDevice d && d.group().container().noIommu() ? "kernel VFIO (" + d.group().path()
                + ", no IOMMU: " + backend.dmaAddressing().describe() + ")" : "kernel VFIO";
        return "over " + transport + ": "
                + String.join(", ", regions) + "; " + (irqs.isEmpty() ? "no interrupts" : String.join(", ", irqs))
                + hidden + dma;
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
