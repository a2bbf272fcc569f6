package io.jvfio.vfio.kernel;

import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.linux.OwnedFd;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * A file descriptor a management layer opened and handed to this process ({@code fd=N} of
 * {@code -object iommufd} or {@code -device vfio-pci}; libvirt does this so the VMM needs no access
 * to {@code /dev/iommu} or {@code /dev/vfio}), with the path it was opened from as
 * {@code /proc/self/fd} tells it, so the kind of file can be checked before any ioctl is made on it.
 */
public record PassedFd(int number, String path) {

    /** Looks at fd {@code number}; {@code option} (e.g. {@code "-object iommufd,fd=5"}) names it in an error. */
    public static PassedFd of(int number, String option) {
        if (number < 0) {
            throw new VfioException(option + ": " + number + " is not a file descriptor; give the number of an fd "
                    + "this process inherited open");
        }
        try {
            return new PassedFd(number, Files.readSymbolicLink(Path.of("/proc/self/fd/" + number)).toString());
        } catch (NoSuchFileException e) {
            throw new VfioException(option + ": fd " + number + " is not open in this process; the management "
                    + "layer must pass it open (without close-on-exec) when it starts jvfio", e);
        } catch (IOException e) {
            throw new VfioException(option + ": cannot look at fd " + number + " in /proc/self/fd: " + e.getMessage(), e);
        }
    }

    /** Takes ownership: the fd is closed with what is built on it. */
    public OwnedFd adopt() {
        return OwnedFd.adopt(number, path + " (fd " + number + ")");
    }
}
