package io.jvfio.kvm;

import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.linux.ioctl.Ioctl;
import io.jvfio.vmm.linux.kvm.KvmConstants;
import io.jvfio.vmm.linux.kvm.KvmMsrList;

import static io.jvfio.vmm.linux.jna.LinuxConstants.O_RDWR;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_CHECK_EXTENSION;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_API_VERSION;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_MSR_INDEX_LIST;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_VCPU_MMAP_SIZE;

/**
 * The KVM subsystem ({@code /dev/kvm}): checked for the one stable API version there is, asked for
 * capabilities, and the factory of VMs.
 */
public final class Kvm implements AutoCloseable {

    public static final String DEVICE = "/dev/kvm";

    private final OwnedFd fd;

    private Kvm(OwnedFd fd) {
        this.fd = fd;
    }

    /** Opens {@code /dev/kvm} and checks that it speaks KVM API version 12. */
    public static Kvm open() {
        OwnedFd fd = Syscalls.open(DEVICE, O_RDWR);
        try {
            int version = Ioctl.ioctl(fd, KVM_GET_API_VERSION, 0L);
            if (version != KvmConstants.KVM_API_VERSION) {
                throw new IllegalStateException(DEVICE + " speaks KVM API version " + version + "; jvfio needs version "
                        + KvmConstants.KVM_API_VERSION + ", which every Linux since 2.6.22 provides");
            }
            return new Kvm(fd);
        } catch (RuntimeException e) {
            fd.close();
            throw e;
        }
    }

    /**
     * Why this process cannot run guests on KVM, or null if it can: the one definition of "KVM is
     * usable" (the launcher's default accelerator, the tests' KVM prerequisite and the benchmarks ask
     * it). It is what {@link #open()} needs, not file permissions: {@code /dev/kvm} opens read-write
     * and answers KVM_GET_API_VERSION with 12.
     */
    public static String problem() {
        try (Kvm kvm = open()) {
            return null;
        } catch (SyscallException | IllegalStateException e) {
            return e.getMessage();
        }
    }

    /** Whether {@link #problem()} finds none. */
    public static boolean usable() {
        return problem() == null;
    }

    /** The answer to KVM_CHECK_EXTENSION: 0 if unsupported, else 1 or a capability-specific number. */
    public int checkExtension(int capability) {
        return Ioctl.ioctl(fd, KVM_CHECK_EXTENSION, capability);
    }

    /**
     * How many vCPUs a VM may have: KVM_CAP_MAX_VCPUS, the hard limit at which KVM_CREATE_VCPU fails
     * with EINVAL. Kernels without that capability take KVM_CAP_NR_VCPUS as the limit, and kernels
     * without either 4 (Documentation/virt/kvm/api.rst, KVM_CREATE_VCPU).
     */
    public int maxVcpus() {
        int max = checkExtension(KvmConstants.KVM_CAP_MAX_VCPUS);
        return max > 0 ? max : recommendedVcpus();
    }

    /**
     * How many vCPUs KVM recommends: KVM_CAP_NR_VCPUS, the host's online CPUs (capped at the
     * maximum), or 4 where the capability is missing. More is allowed but overcommits the host, which
     * QEMU warns about; 2 on these machines.
     */
    public int recommendedVcpus() {
        int nr = checkExtension(KvmConstants.KVM_CAP_NR_VCPUS);
        return nr > 0 ? nr : 4;
    }

    /**
     * Refuses {@code count} vCPUs where this KVM cannot create them, with the limit and the fix, before
     * any is created (KVM_CREATE_VCPU would fail with a bare EINVAL half-way through).
     */
    public void checkVcpus(int count) {
        if (count < 1) {
            throw new IllegalArgumentException(count + " vCPUs: a VM needs at least 1 (give -smp 1 or more)");
        }
        int max = maxVcpus();
        if (count > max) {
            throw new IllegalArgumentException(count + " vCPUs: this KVM allows " + max
                    + " vCPUs per VM (KVM_CAP_MAX_VCPUS; it recommends " + recommendedVcpus()
                    + ", KVM_CAP_NR_VCPUS): give -smp " + max + " or fewer");
        }
    }

    /** The size of each vCPU's shared {@code kvm_run} mapping. */
    public int vcpuMmapSize() {
        return Ioctl.ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0L);
    }

    /**
     * The MSRs KVM saves and restores for a VMM, by index (KVM_GET_MSR_INDEX_LIST: those it virtualizes
     * and those it emulates); a vCPU may still refuse some of them, as its CPUID lacks the feature.
     */
    public int[] msrIndexList() {
        int room = 0;
        while (true) {
            KvmMsrList list = new KvmMsrList(room);
            try {
                Ioctl.ioctl(fd, KVM_GET_MSR_INDEX_LIST, list);
            } catch (SyscallException e) {
                // E2BIG: the kernel wrote how many there are into nmsrs.
                if (!e.is(Errno.E2BIG) || list.nmsrs() <= room) {
                    throw e;
                }
                room = list.nmsrs();
                continue;
            }
            int[] indices = new int[list.nmsrs()];
            for (int i = 0; i < indices.length; i++) {
                indices[i] = list.index(i);
            }
            return indices;
        }
    }

    public OwnedFd fd() {
        return fd;
    }

    @Override
    public void close() {
        fd.close();
    }
}
