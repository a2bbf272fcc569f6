package io.jvfio.vfio.nested;

import io.jvfio.vfio.kernel.VfioDevice;
import io.jvfio.vfio.VfioIrq;
import io.jvfio.vfio.VfioRegion;
import io.jvfio.vmm.linux.MemoryMapping;
import io.jvfio.vmm.linux.Syscalls;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

import static io.jvfio.vmm.linux.jna.LinuxConstants.MAP_SHARED;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_READ;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_WRITE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_INTX_IRQ_INDEX;

/**
 * QEMU's {@code sdhci-pci} (an SD host controller, 1b36:0007) through the kernel's VFIO, inside the
 * nested VM: a memory BAR of 256 bytes, smaller than a page. The kernel reports it mmap-able when the
 * host placed it on a page boundary (vfio-pci then reserves the rest of that page), and its mmap
 * takes the whole page: the length is checked against the BAR's length rounded up to a page.
 */
final class SdhciProbe {

    /** SD Host Controller Simplified Specification registers (offsets in BAR0). */
    static final int ARGUMENT = 0x08;
    static final int CAPABILITIES = 0x40;
    static final int HOST_VERSION = 0xfe;
    /** QEMU 7.2's default capabilities for an SD host spec v2 controller (hw/sd/sdhci-internal.h). */
    static final long CAPABILITIES_V2 = 0x057834b4L;
    /** Host controller version: vendor 0x24, specification version 1 (that is, 2.00). */
    static final int VERSION_V2 = 0x2401;
    static final int BAR_SIZE = 256;

    private final NestedVfioProbe probe;
    private final VfioDevice sdhci;

    SdhciProbe(NestedVfioProbe probe, VfioDevice sdhci) {
        this.probe = probe;
        this.sdhci = sdhci;
    }

    void run() {
        long page = Syscalls.pageSize();
        probe.step("sdhci-regions", () -> {
            for (VfioRegion r : sdhci.regions()) {
                NestedVfioProbe.info("sdhci region " + r);
            }
            VfioRegion bar0 = sdhci.region(0);
            long bar = sdhci.read(VFIO_PCI_CONFIG_REGION_INDEX, 0x10, 4);
            String resource = Files.readAllLines(Path.of("/sys/bus/pci/devices/" + NestedVfioProbe.SDHCI
                    + "/resource")).get(0);
            long hostStart = Long.decode(resource.split(" ")[0]);
            VfioIrq intx = sdhci.irq(VFIO_PCI_INTX_IRQ_INDEX);
            boolean pageAligned = hostStart % page == 0;
            probe.check("sdhci-regions", bar0.size() == BAR_SIZE && bar0.readable() && bar0.writable()
                    && (bar & 0x7) == 0 && bar0.mmappable() == pageAligned
                    && (!pageAligned || bar0.mmapAreas().size() == 1 && bar0.mmapAreas().get(0).size() == BAR_SIZE)
                    && intx.count() == 1, String.format("BAR0 0x%08x (32-bit memory), region of %d bytes, flags 0x%x, "
                    + "mmap areas %s; the host placed it at 0x%x (%s); INTx count %d", bar, bar0.size(), bar0.flags(),
                    bar0.mmapAreas(), hostStart, pageAligned ? "on a page boundary, so vfio-pci offers mmap"
                    : "not on a page boundary, so vfio-pci offers no mmap", intx.count()));
        });
        probe.step("sdhci-registers", () -> {
            long command = sdhci.read(VFIO_PCI_CONFIG_REGION_INDEX, 0x04, 2);
            sdhci.write(VFIO_PCI_CONFIG_REGION_INDEX, 0x04, 2, command | 0x2);
            long caps = sdhci.read(0, CAPABILITIES, 4);
            long version = sdhci.read(0, HOST_VERSION, 2);
            sdhci.write(0, ARGUMENT, 4, 0x12345678L);
            long argument = sdhci.read(0, ARGUMENT, 4);
            sdhci.write(0, ARGUMENT, 4, 0);
            probe.check("sdhci-registers", caps == CAPABILITIES_V2 && version == VERSION_V2 && argument == 0x12345678L,
                    String.format("through pread/pwrite of the region: capabilities 0x%08x, host version 0x%04x, "
                            + "argument register wrote 0x12345678, read 0x%08x", caps, version, argument));
        });
        probe.step("sdhci-mmap-page", () -> {
            VfioRegion bar0 = sdhci.region(0);
            if (!bar0.mmappable()) {
                probe.check("sdhci-mmap-page", true, "BAR0 is not mmap-able here (not page-aligned on the host): "
                        + "nothing to map");
                return;
            }
            try (MemoryMapping whole = MemoryMapping.map(sdhci.fd(), bar0.offset(), page, PROT_READ | PROT_WRITE,
                    MAP_SHARED);
                 MemoryMapping exact = sdhci.mmap(0, bar0.mmapAreas().get(0))) {
                ByteBuffer w = whole.byteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                ByteBuffer e = exact.byteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                long viaPage = Integer.toUnsignedLong(w.getInt(CAPABILITIES));
                e.putInt(ARGUMENT, 0x0badf00d);
                long seenInPage = Integer.toUnsignedLong(w.getInt(ARGUMENT));
                e.putInt(ARGUMENT, 0);
                probe.check("sdhci-mmap-page", viaPage == CAPABILITIES_V2 && seenInPage == 0x0badf00dL, String.format(
                        "the kernel maps a whole page (%d bytes) at the 256-byte BAR's offset (vfio-pci rounds the BAR "
                        + "up to a page and reserved the rest): capabilities 0x%08x through it; a write through the "
                        + "256-byte mapping read back through the page: 0x%08x", page, viaPage, seenInPage));
            }
        });
    }
}
