package io.jvfio.vfio.user.protocol;

/**
 * What this project proposes in VFIO_USER_VERSION (spec, "Version"), the same as client and as
 * server: the version, and the capabilities with the limits behind them.
 */
public final class VfioUserVersion {

    /** The spec's 0.1, which libvfio-user and QEMU speak. */
    public static final int MAJOR = 0;
    public static final int MINOR = 1;

    /**
     * The max_msg_fds we announce. The spec sets no ceiling, but QEMU 11's client refuses a value above
     * its VFIO_USER_MAX_MAX_FDS (16) as "malformed max_msg_fds" and drops the connection.
     */
    public static final int MAX_MSG_FDS = 16;
    /** The largest data transfer we accept (max_data_xfer_size), and hence the largest message. */
    public static final int MAX_DATA_XFER = 1 << 20;

    /** The capabilities we announce: 4 KiB DMA pages and the spec's 65535 DMA mappings. */
    public static final VfioUserCapabilities CAPABILITIES =
            new VfioUserCapabilities(MAX_MSG_FDS, MAX_DATA_XFER, 4096, 65535);

    private VfioUserVersion() {
    }
}
