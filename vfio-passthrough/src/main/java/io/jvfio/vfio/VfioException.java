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
}
