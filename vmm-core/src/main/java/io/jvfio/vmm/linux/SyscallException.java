package io.jvfio.vmm.linux;

import io.jvfio.JvfioException;

/**
 * A failed system call: the operation (a syscall or ioctl name), the object it acted on (a path or
 * a description of the fd) and the errno, by name and text, as in
 * {@code VFIO_GROUP_SET_CONTAINER on /dev/vfio/26: Device or resource busy (EBUSY)}.
 *
 * <p>Unchecked, like JNA's own {@code LastErrorException}: a VMM cannot recover from most of
 * these, and the layers that can (an EBUSY group, an EINTR'd KVM_RUN) test {@link #errno()}.
 */
public final class SyscallException extends JvfioException {

    private static final long serialVersionUID = 1L;

    private final String operation;
    private final String object;
    private final int errno;

    public SyscallException(String operation, String object, int errno) {
        super(format(operation, object, errno));
        this.operation = operation;
        this.object = object;
        this.errno = errno;
    }

    private static String format(String operation, String object, int errno) {
        String where = object == null || object.isEmpty() ? operation : operation + " on " + object;
        return where + ": " + Errno.describe(errno);
    }

    /** The system call or ioctl that failed, e.g. {@code open} or {@code VFIO_GROUP_SET_CONTAINER}. */
    public String operation() {
        return operation;
    }

    /** What it acted on, e.g. {@code /dev/vfio/26}; may be empty. */
    public String object() {
        return object;
    }

    /** The errno value the kernel returned. */
    public int errnoValue() {
        return errno;
    }

    /** The errno as an {@link Errno}, or {@code null} for a value Linux does not define. */
    public Errno errno() {
        return Errno.of(errno);
    }

    /** True when the errno is {@code e}. */
    public boolean is(Errno e) {
        return errno == e.number();
    }
}
