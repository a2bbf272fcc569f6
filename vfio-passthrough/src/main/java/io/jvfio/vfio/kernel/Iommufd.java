package io.jvfio.vfio.kernel;

import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.linux.ioctl.Ioctl;
import io.jvfio.vmm.linux.iommufd.IommuDestroy;

import java.nio.file.Files;
import java.nio.file.Path;

import static io.jvfio.vmm.linux.jna.LinuxConstants.O_RDWR;
import static io.jvfio.vmm.linux.iommufd.IommufdIoctls.IOMMU_DESTROY;

/**
 * An iommufd ({@code /dev/iommu}, Linux 6.2 and later): a context that owns I/O address spaces
 * ({@link IommufdIoas}) and the devices bound to it through their VFIO cdevs. What QEMU's
 * {@code -object iommufd} is: opened here, or handed over open by a management layer
 * ({@code fd=N}).
 */
public final class Iommufd implements AutoCloseable {

    public static final String PATH = "/dev/iommu";

    private final String id;
    private final OwnedFd fd;

    private Iommufd(String id, OwnedFd fd) {
        this.id = id;
        this.fd = fd;
    }

    /**
     * Why this machine has no usable iommufd, or null if {@code /dev/iommu} is there (whether this
     * user may open it is for {@link #open} to say).
     */
    public static String problem() {
        if (Files.exists(Path.of(PATH))) {
            return null;
        }
        return PATH + " does not exist: this kernel has no iommufd (it needs CONFIG_IOMMUFD, Linux 6.2 or later, "
                + "and modprobe iommufd); use the VFIO container instead (drop -object iommufd and iommufd=)";
    }

    /** Opens {@code /dev/iommu} for the object {@code id}. */
    public static Iommufd open(String id) {
        try {
            return new Iommufd(id, Syscalls.open(PATH, O_RDWR));
        } catch (SyscallException e) {
            if (e.is(Errno.ENOENT) || e.is(Errno.ENODEV) || e.is(Errno.ENXIO)) {
                throw new VfioException("-object iommufd,id=" + id + ": " + problem(), e);
            }
            throw new VfioException("-object iommufd,id=" + id + ": cannot open " + PATH + ": " + e.errno().text()
                    + (e.is(Errno.EACCES) || e.is(Errno.EPERM) ? "; give this user read and write access to " + PATH
                    + ", or let a management layer pass it open with fd=N" : ""), e);
        }
    }

    /** Adopts an iommufd a management layer opened ({@code -object iommufd,id=ID,fd=N}). */
    public static Iommufd adopt(String id, int number) {
        String option = "-object iommufd,id=" + id + ",fd=" + number;
        PassedFd passed = PassedFd.of(number, option);
        if (!passed.path().equals(PATH)) {
            throw new VfioException(option + ": fd " + number + " is " + passed.path() + ", not " + PATH
                    + "; pass an fd of " + PATH);
        }
        return new Iommufd(id, passed.adopt());
    }

    /** The id of the {@code -object iommufd} this is. */
    public String id() {
        return id;
    }

    public OwnedFd fd() {
        return fd;
    }

    /** A new, empty I/O address space of this iommufd. */
    public IommufdIoas allocateIoas() {
        return IommufdIoas.allocate(this);
    }

    /** IOMMU_DESTROY: frees object {@code objectId} (an IOAS); fails while a device is still attached to it. */
    void destroy(int objectId) {
        Ioctl.ioctl(fd, IOMMU_DESTROY, new IommuDestroy().set(objectId));
    }

    @Override
    public void close() {
        fd.close();
    }

    @Override
    public String toString() {
        return "iommufd '" + id + "'";
    }
}
