package io.jvfio.vfio;

import io.jvfio.JvfioException;

/**
 * Something VFIO cannot do for the device the user named, said in terms of what to do about it.
 * The subclasses are the failures a caller may want to tell apart.
 */
public class VfioException extends JvfioException {

    private static final long serialVersionUID = 1L;

    public VfioException(String message) {
        super(message);
    }

    public VfioException(String message, Throwable cause) {
        super(message, cause);
    }

    /** A group with a device bound to a host driver: nothing in it can be assigned yet. */
    public static final class GroupNotViable extends VfioException {
        private static final long serialVersionUID = 1L;

        public GroupNotViable(String message) {
            super(message);
        }
    }

    /** A group another owner holds open: the group, not the device, is the unit of ownership. */
    public static final class GroupBusy extends VfioException {
        private static final long serialVersionUID = 1L;

        public GroupBusy(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * A device in VFIO's no-IOMMU mode ({@code /dev/vfio/noiommu-N}) asked to do what only an IOMMU makes
     * safe: be given to a guest, or be opened without the explicit opt-in.
     */
    public static final class NoIommu extends VfioException {
        private static final long serialVersionUID = 1L;

        public NoIommu(String message) {
            super(message);
        }
    }

    /** A device whose VFIO driver offers no reset. */
    public static final class ResetNotSupported extends VfioException {
        private static final long serialVersionUID = 1L;

        public ResetNotSupported(String message) {
            super(message);
        }

        public ResetNotSupported(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * A device that cannot migrate (its driver answers VFIO_DEVICE_FEATURE_MIGRATION with ENOTTY, or a
     * vfio-user server offers no migration): what blocks a VM's migration, with the device's name and
     * the reason.
     */
    public static final class MigrationNotSupported extends VfioException {
        private static final long serialVersionUID = 1L;

        public MigrationNotSupported(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * A migration state change, or a stream's load, that the device refused: the message names the
     * arc, the kernel's answer and the state the device was left in ({@link #leftIn}, as the kernel
     * reports it afterwards: the old state, one along the way, or ERROR).
     */
    public static final class MigrationFailed extends VfioException {
        private static final long serialVersionUID = 1L;
        private final String leftIn;

        public MigrationFailed(String message, String leftIn, Throwable cause) {
            super(message, cause);
            this.leftIn = leftIn;
        }

        /** The state the device reported after the failure (a VFIO_DEVICE_STATE_* name), or null if unknown. */
        public String leftIn() {
            return leftIn;
        }
    }
}
