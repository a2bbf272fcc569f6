package io.jvfio.vfio.emulated;

import io.jvfio.vfio.VfioIrq;
import io.jvfio.vfio.user.protocol.VfioUserException;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.pci.PciConfigSpace;
import io.jvfio.vmm.pci.PciRegs;
import io.netty.buffer.ByteBuf;

import java.util.ArrayList;
import java.util.List;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FLAGS_PCI;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FLAGS_RESET;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_INFO_AUTOMASKED;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_INFO_EVENTFD;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_INFO_MASKABLE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_INTX_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSIX_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSI_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_FLAG_READ;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_FLAG_WRITE;

/**
 * A small served PCI function: a conventional config space, at most one BAR (BAR0) of 32-bit
 * registers that is trapped (no mmap), INTx or no interrupt at all, and no MSI or MSI-X. What the
 * test devices that are not edu share; each says what its config space and registers are.
 *
 * <p>BAR0 takes aligned 4-byte accesses; any other access reads all-ones and its write is dropped,
 * as edu's registers treat a wrong width.
 */
public abstract class RegisterDevice implements EmulatedDevice, AutoCloseable {

    private final long bar0Size;
    private final List<Region> regions;
    private final List<VfioIrq> irqs;
    private volatile Context context;
    /** Guarded by this, as is the subclass's register state. */
    private PciConfigSpace config;

    /**
     * {@code bar0Size} 0 for a function without BARs; {@code intx} whether it has INTA (the one INTx
     * vector, maskable and automasked as the kernel's vfio-pci reports it) or no interrupt at all.
     */
    protected RegisterDevice(long bar0Size, boolean intx) {
        this.bar0Size = bar0Size;
        int rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
        List<Region> rs = new ArrayList<>();
        rs.add(bar0Size > 0 ? new Region(rw, bar0Size, null, 0, List.of()) : Region.absent());
        for (int i = 1; i <= 6; i++) {
            rs.add(Region.absent()); // BAR1-BAR5, ROM
        }
        rs.add(new Region(rw, PciRegs.PCI_CFG_SPACE_SIZE, null, 0, List.of()));
        rs.add(Region.absent()); // VGA
        regions = List.copyOf(rs);
        irqs = List.of(
                new VfioIrq(VFIO_PCI_INTX_IRQ_INDEX, intx ? VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE
                        | VFIO_IRQ_INFO_AUTOMASKED : 0, intx ? 1 : 0),
                new VfioIrq(VFIO_PCI_MSI_IRQ_INDEX, 0, 0),
                new VfioIrq(VFIO_PCI_MSIX_IRQ_INDEX, 0, 0),
                new VfioIrq(3, 0, 0), // ERR: not a PCI Express device
                new VfioIrq(4, 0, 0)); // REQ: never asks for the device back
    }

    /** The config space at power-on. */
    protected abstract PciConfigSpace newConfig();

    /**
     * The config space such a function usually has: its identity (revision 1), INTA if it has INTx,
     * and BAR0 of the size given to the constructor and of kind {@code bar0} (null: no BAR).
     */
    protected final PciConfigSpace standardConfig(int vendorId, int deviceId, int classCode,
                                                  PciConfigSpace.BarType bar0) {
        PciConfigSpace c = new PciConfigSpace(PciRegs.PCI_CFG_SPACE_SIZE).identity(vendorId, deviceId, 1, classCode);
        if (irqs.get(VFIO_PCI_INTX_IRQ_INDEX).count() > 0) {
            c.interruptPin(1);
        }
        return bar0 == null ? c : c.bar(0, bar0Size, bar0, false);
    }

    /** A 4-byte register read at {@code offset} in BAR0; called holding this. */
    protected abstract int readRegister(int offset);

    /** A 4-byte register write at {@code offset} in BAR0; called holding this. */
    protected abstract void writeRegister(int offset, int value);

    /** The registers back to power-on; called holding this. */
    protected abstract void resetRegisters();

    /** The config space, for the subclass (holding this): its command and status registers. */
    protected final PciConfigSpace config() {
        if (config == null) {
            config = newConfig();
        }
        return config;
    }

    /** The client connected now, or null. */
    protected final Context context() {
        return context;
    }

    // ---- EmulatedDevice ----

    @Override
    public int flags() {
        return VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
    }

    @Override
    public List<Region> regions() {
        return regions;
    }

    @Override
    public List<VfioIrq> irqs() {
        return irqs;
    }

    @Override
    public synchronized void read(int region, long offset, ByteBuf dst, int count) {
        if (region == VFIO_PCI_CONFIG_REGION_INDEX) {
            for (int i = 0; i < count; i++) {
                dst.writeByte((int) config().read((int) offset + i, 1));
            }
        } else if (region == 0 && bar0Size > 0) {
            if (count == 4 && (offset & 3) == 0) {
                dst.writeIntLE(readRegister((int) offset));
            } else {
                for (int i = 0; i < count; i++) {
                    dst.writeByte(0xFF);
                }
            }
        } else {
            throw new VfioUserException(Errno.EINVAL, this + " has no region " + region);
        }
    }

    @Override
    public synchronized void write(int region, long offset, ByteBuf src, int count) {
        if (region == VFIO_PCI_CONFIG_REGION_INDEX) {
            for (int i = 0; i < count; i++) {
                config().write((int) offset + i, 1, src.getUnsignedByte(src.readerIndex() + i));
            }
        } else if (region == 0 && bar0Size > 0) {
            if (count == 4 && (offset & 3) == 0) {
                writeRegister((int) offset, src.getIntLE(src.readerIndex()));
            }
        } else {
            throw new VfioUserException(Errno.EINVAL, this + " has no region " + region);
        }
    }

    @Override
    public void reset() {
        synchronized (this) {
            config = newConfig();
            resetRegisters();
        }
        Context c = context;
        if (c != null && irqs.get(VFIO_PCI_INTX_IRQ_INDEX).count() > 0) {
            c.lower(VFIO_PCI_INTX_IRQ_INDEX, 0);
        }
    }

    @Override
    public void attach(Context context) {
        this.context = context;
    }

    @Override
    public void detach() {
        this.context = null;
    }

    @Override
    public void close() {
        // nothing held outside the heap
    }
}
