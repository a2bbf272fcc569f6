package io.jvfio.vfio.passthrough;

import io.jvfio.vfio.VfioIrq;
import io.jvfio.vfio.emulated.EmulatedDevice;
import io.jvfio.vmm.pci.PciConfigSpace;
import io.jvfio.vmm.pci.PciRegs;
import io.netty.buffer.ByteBuf;

import java.util.ArrayList;
import java.util.List;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FLAGS_PCI;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_INFO_EVENTFD;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_INFO_MASKABLE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_INFO_NORESIZE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSIX_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSI_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_FLAG_READ;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_FLAG_WRITE;
import static io.jvfio.vmm.pci.PciRegs.extCapHeader;

/**
 * A PCI Express function whose configuration space holds every kind of capability the device model
 * must show or hide: power management, a vendor-specific one, PCI Express, MSI (4 vectors), MSI-X
 * (4 vectors), and the extended SR-IOV (first, at 0x100), AER, ARI, resizable BAR and serial number.
 * Served over vfio-user like any device written in Java; no QEMU device of the nested VM has all of
 * these.
 *
 * <p>BAR0 (16 KiB, trapped) raises interrupts on request: writing n to {@link #FIRE_MSI} raises MSI
 * vector n, to {@link #FIRE_MSIX} MSI-X vector n. The vendor-specific capability's body is writable in
 * the device itself, so a guest write that reached the device would show there.
 */
final class CapabilityZooDevice implements EmulatedDevice {

    static final int PM = 0x40;
    static final int VENDOR = 0x48;
    static final int VENDOR_LENGTH = 8;
    /** The vendor-specific capability's body, bytes 3..7, as the device holds it. */
    static final long VENDOR_BODY = 0x5a_4f4f_5a21L;
    static final int EXPRESS = 0x50;
    static final int FIRE_MSI = 0x0;
    static final int FIRE_MSIX = 0x4;
    final int msi;
    final int msix;
    private final boolean msixNoResize;
    private volatile Context context;

    private final PciConfigSpace config = new PciConfigSpace(4096).identity(0x1b36, 0x00ff, 1, 0x010802)
            .subsystem(0x1af4, 0x1100).interruptPin(1)
            .bar(0, 16384, PciConfigSpace.BarType.MEMORY64, false);

    /** MSI-X that takes vectors one at a time (its IRQ info without VFIO_IRQ_INFO_NORESIZE). */
    CapabilityZooDevice() {
        this(false);
    }

    /** {@code msixNoResize}: MSI-X IRQ info says NORESIZE, as the kernel says it without dynamic MSI-X. */
    CapabilityZooDevice(boolean msixNoResize) {
        this.msixNoResize = msixNoResize;
        config.addCapability(PciRegs.PCI_CAP_ID_PM, 8);
        config.set(PM + PciRegs.PCI_PM_PMC, 2, 3);
        config.addCapability(PciRegs.PCI_CAP_ID_VNDR, VENDOR_LENGTH);
        config.set(VENDOR + PciRegs.PCI_CAP_FLAGS, 1, VENDOR_LENGTH);
        for (int i = 0; i < 5; i++) {
            config.set(VENDOR + 3 + i, 1, VENDOR_BODY >>> (8 * i) & 0xFF);
            config.setWritable(VENDOR + 3 + i, 1, 0xFF);
        }
        config.addCapability(PciRegs.PCI_CAP_ID_EXP, 0x3C);
        config.set(EXPRESS + PciRegs.PCI_EXP_FLAGS, 2, 0x0002); // v2, endpoint
        msi = config.addMsi(true, true, 2);
        msix = config.addMsix(4, 0, 0x2000, 0, 0x3000);
        config.set(0x100, 4, extCapHeader(PciRegs.PCI_EXT_CAP_ID_SRIOV, 1, 0x140));
        config.set(0x140, 4, extCapHeader(PciRegs.PCI_EXT_CAP_ID_ERR, 2, 0x180));
        config.set(0x180, 4, extCapHeader(PciRegs.PCI_EXT_CAP_ID_ARI, 1, 0x1c0));
        config.set(0x1c0, 4, extCapHeader(PciRegs.PCI_EXT_CAP_ID_REBAR, 1, 0x200));
        config.set(0x200, 4, extCapHeader(PciRegs.PCI_EXT_CAP_ID_DSN, 1, 0));
    }

    @Override
    public int flags() {
        return VFIO_DEVICE_FLAGS_PCI;
    }

    @Override
    public List<Region> regions() {
        int rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
        List<Region> rs = new ArrayList<>();
        rs.add(new Region(rw, 16384, null, 0, List.of()));
        for (int i = 1; i < 7; i++) {
            rs.add(Region.absent());
        }
        rs.add(new Region(rw, 4096, null, 0, List.of()));
        rs.add(Region.absent());
        return rs;
    }

    @Override
    public List<VfioIrq> irqs() {
        return List.of(new VfioIrq(0, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE, 1),
                new VfioIrq(1, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE, 4),
                new VfioIrq(2, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE
                        | (msixNoResize ? VFIO_IRQ_INFO_NORESIZE : 0), 4),
                new VfioIrq(3, 0, 0), new VfioIrq(4, 0, 0));
    }

    @Override
    public synchronized void read(int region, long offset, ByteBuf dst, int count) {
        for (int i = 0; i < count; i++) {
            dst.writeByte(region == 7 ? (int) config.read((int) offset + i, 1) : 0);
        }
    }

    @Override
    public synchronized void write(int region, long offset, ByteBuf src, int count) {
        if (region == 7) {
            for (int i = 0; i < count; i++) {
                config.write((int) offset + i, 1, src.getUnsignedByte(src.readerIndex() + i));
            }
        } else if (region == 0 && count == 4 && (offset == FIRE_MSI || offset == FIRE_MSIX)) {
            Context c = context;
            if (c != null) {
                c.raise(offset == FIRE_MSI ? VFIO_PCI_MSI_IRQ_INDEX : VFIO_PCI_MSIX_IRQ_INDEX,
                        src.getIntLE(src.readerIndex()));
            }
        }
    }

    /** The device's own config bytes, behind any model. */
    synchronized long ownConfig(int offset, int size) {
        return config.raw(offset, size);
    }

    @Override
    public void reset() {
    }

    @Override
    public void attach(Context context) {
        this.context = context;
    }

    @Override
    public void detach() {
        this.context = null;
    }
}
