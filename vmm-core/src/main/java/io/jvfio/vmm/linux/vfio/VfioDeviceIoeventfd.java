package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct vfio_device_ioeventfd}, the argument of VFIO_DEVICE_IOEVENTFD: when the eventfd is
 * signalled the kernel writes {@code data} ({@code flags} names the width) at {@code offset} of the
 * device fd (for vfio-pci the region's offset, index &lt;&lt; 40, plus the register's), without user
 * space. {@code fd} -1 removes the one at that offset, width and data.
 */
public final class VfioDeviceIoeventfd extends NativeStruct {

    public static final int ARGSZ = 0;
    public static final int FLAGS = 4;
    public static final int OFFSET = 8;
    public static final int DATA = 16;
    public static final int FD = 24;
    public static final int RESERVED = 28;
    public static final int SIZEOF = 32;
    public static final StructLayout LAYOUT = StructLayout.of("linux/vfio.h", "vfio_device_ioeventfd", SIZEOF)
            .field("argsz", ARGSZ, 4)
            .field("flags", FLAGS, 4)
            .field("offset", OFFSET, 8)
            .field("data", DATA, 8)
            .field("fd", FD, 4)
            .field("reserved", RESERVED, 4)
            .build();

    public VfioDeviceIoeventfd() {
        super(SIZEOF);
    }

    /** A write of {@code size} bytes (1, 2, 4 or 8) of {@code data} at device fd {@code offset} on {@code fd}'s signal. */
    public VfioDeviceIoeventfd set(long offset, int size, long data, int fd) {
        clear();
        putU32(ARGSZ, SIZEOF);
        putU32(FLAGS, sizeFlag(size));
        putU64(OFFSET, offset);
        putU64(DATA, data);
        putU32(FD, fd);
        return this;
    }

    /** VFIO_DEVICE_IOEVENTFD_8/16/32/64 for an access of {@code size} bytes. */
    public static int sizeFlag(int size) {
        return switch (size) {
            case 1 -> VfioConstants.VFIO_DEVICE_IOEVENTFD_8;
            case 2 -> VfioConstants.VFIO_DEVICE_IOEVENTFD_16;
            case 4 -> VfioConstants.VFIO_DEVICE_IOEVENTFD_32;
            case 8 -> VfioConstants.VFIO_DEVICE_IOEVENTFD_64;
            default -> throw new IllegalArgumentException("VFIO_DEVICE_IOEVENTFD writes 1, 2, 4 or 8 bytes, not " + size);
        };
    }
}
