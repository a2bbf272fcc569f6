package io.jvfio.vfio.passthrough;

import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.bus.DirectRegion;
import io.jvfio.vmm.bus.IoEventFd;

import java.util.ArrayList;
import java.util.List;

/**
 * An address space listener in KVM's place for tests without KVM: takes every doorbell, as KvmVm's
 * KVM_IOEVENTFD would (so the model's trapped path no longer signals it), and records what is there.
 * The real KVM_IOEVENTFD is {@link PassthroughDoorbellKvmTest}'s.
 */
public final class IoEventFdRecorder implements AddressSpace.Listener {

    /** The doorbells now taken. */
    public final List<IoEventFd> now = new ArrayList<>();
    public int added;
    public int removed;

    @Override
    public void regionAdded(DirectRegion region) {
    }

    @Override
    public void regionRemoved(DirectRegion region) {
    }

    @Override
    public synchronized boolean ioEventFdAdded(IoEventFd doorbell) {
        now.add(doorbell);
        added++;
        return true;
    }

    @Override
    public synchronized void ioEventFdRemoved(IoEventFd doorbell) {
        if (!now.remove(doorbell)) {
            throw new AssertionError("removed what was never added: " + doorbell);
        }
        removed++;
    }
}
