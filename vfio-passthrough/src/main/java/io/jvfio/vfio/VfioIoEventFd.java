package io.jvfio.vfio;

import io.jvfio.vmm.linux.EventFd;

/**
 * A doorbell a device's back end offers in one of its regions: a write of {@code size} bytes (0: any
 * width) at {@code offset}, of {@code data} if {@code datamatch}, that the device takes from
 * {@code eventfd} instead of a region write (a vfio-user server's VFIO_USER_DEVICE_GET_REGION_IO_FDS,
 * an ioeventfd sub-region). {@code pio}: the server asks for KVM_IOEVENTFD_FLAG_PIO (the spec's
 * flag; the device model goes by the BAR's own type). The back end owns the eventfd.
 */
public record VfioIoEventFd(int region, long offset, int size, boolean datamatch, long data, boolean pio,
                            EventFd eventfd) {
}
