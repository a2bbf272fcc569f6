package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct vfio_device_feature}, the argument of VFIO_DEVICE_FEATURE: {@code flags} holds the
 * feature's index (VFIO_DEVICE_FEATURE_MASK) and whether it is read (GET), written (SET) or asked
 * about (PROBE); the feature's own struct follows the header in {@code data[]}, counted in
 * {@code argsz}. The payload is read and written here at its struct's offsets
 * ({@link VfioDeviceFeatureMigration}, {@link VfioDeviceFeatureMigState}, {@link VfioDeviceFeatureDmaLogging},
 * {@link VfioDeviceFeatureMigDataSize}).
 */
public final class VfioDeviceFeature extends NativeStruct {

    public static final int ARGSZ = 0;
    public static final int FLAGS = 4;
    public static final int DATA = 8;
    public static final int SIZEOF = 8;
    public static final StructLayout LAYOUT = StructLayout.of("linux/vfio.h", "vfio_device_feature", SIZEOF)
            .field("argsz", ARGSZ, 4)
            .field("flags", FLAGS, 4)
            .flexibleArray("data", DATA, 1)
            .build();

    /** Room for the header and a payload of up to {@code maxPayload} bytes. */
    public VfioDeviceFeature(int maxPayload) {
        super(SIZEOF + maxPayload);
    }

    /**
     * Prepares a request for {@code feature} ({@code VFIO_DEVICE_FEATURE_MIGRATION}, ...) with
     * {@code access} (VFIO_DEVICE_FEATURE_GET, _SET and/or _PROBE) and a zeroed payload of
     * {@code payloadBytes}.
     */
    public VfioDeviceFeature request(int feature, int access, int payloadBytes) {
        if ((feature & ~VfioConstants.VFIO_DEVICE_FEATURE_MASK) != 0) {
            throw new IllegalArgumentException("a feature index is 16 bits, not " + feature);
        }
        if (SIZEOF + payloadBytes > capacity()) {
            throw new IllegalArgumentException("a " + payloadBytes + "-byte payload does not fit in this "
                    + capacity() + "-byte vfio_device_feature");
        }
        clear();
        putU32(ARGSZ, SIZEOF + payloadBytes);
        putU32(FLAGS, feature | access);
        return this;
    }

    public int flags() {
        return u32(FLAGS);
    }

    /** The payload's {@code __u32} at {@code offset} (within the feature's struct). */
    public int payloadU32(int offset) {
        return u32(DATA + offset);
    }

    public long payloadU64(int offset) {
        return u64(DATA + offset);
    }

    public VfioDeviceFeature putPayloadU32(int offset, int value) {
        putU32(DATA + offset, value);
        return this;
    }

    public VfioDeviceFeature putPayloadU64(int offset, long value) {
        putU64(DATA + offset, value);
        return this;
    }
}
