package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/** {@code struct vfio_irq_info}, the argument of VFIO_DEVICE_GET_IRQ_INFO. */
public final class VfioIrqInfo extends NativeStruct {

    public static final int ARGSZ = 0;
    public static final int FLAGS = 4;
    public static final int INDEX = 8;
    public static final int COUNT = 12;
    public static final int SIZEOF = 16;
    public static final StructLayout LAYOUT = StructLayout.of("linux/vfio.h", "vfio_irq_info", SIZEOF)
            .field("argsz", ARGSZ, 4)
            .field("flags", FLAGS, 4)
            .field("index", INDEX, 4)
            .field("count", COUNT, 4)
            .build();

    public VfioIrqInfo() {
        super(SIZEOF);
    }

    /** Prepares a query for IRQ index {@code index} (VFIO_PCI_INTX_IRQ_INDEX...). */
    public VfioIrqInfo query(int index) {
        clear();
        putU32(ARGSZ, SIZEOF);
        putU32(INDEX, index);
        return this;
    }

    /** VFIO_IRQ_INFO_EVENTFD, _MASKABLE, _AUTOMASKED, _NORESIZE. */
    public int flags() {
        return u32(FLAGS);
    }

    public int index() {
        return u32(INDEX);
    }

    /** How many interrupts this index has (vectors for MSI/MSI-X); 0 if unimplemented. */
    public int count() {
        return u32(COUNT);
    }
}
