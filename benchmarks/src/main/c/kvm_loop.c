/*
 * The baseline for jvfio's vCPU loop: the smallest C loop that runs the same guest. The benchmark
 * sets up the VM, the memory and the guest's registers with jvfio, then hands the vCPU here:
 * KVM_RUN, an MMIO read answered with a constant, until the guest writes to the stop port. It ships
 * in the benchmarks jar and is compiled with cc when the benchmark starts.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>

/* Returns the MMIO exits handled, -errno if KVM_RUN failed, or -(1000 + exit reason) for an exit
 * the loop does not expect. */
long jvfio_c_vcpu_loop(int vcpu_fd, struct kvm_run *run, int stop_port, uint64_t value)
{
    long mmio = 0;
    for (;;) {
        if (ioctl(vcpu_fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -errno;
        }
        switch (run->exit_reason) {
        case KVM_EXIT_MMIO:
            if (!run->mmio.is_write)
                memcpy(run->mmio.data, &value, run->mmio.len);
            mmio++;
            break;
        case KVM_EXIT_IO:
            if (run->io.port == stop_port)
                return mmio;
            break;
        default:
            return -(1000 + (long) run->exit_reason);
        }
    }
}
