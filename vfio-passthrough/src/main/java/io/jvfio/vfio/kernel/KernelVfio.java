package io.jvfio.vfio.kernel;

import io.jvfio.memory.GuestMemory;
import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.pci.PciAddress;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Kernel VFIO for one VM: one container, each IOMMU group opened and attached to it once however
 * many of its devices are passed through (the kernel lets a group be opened by one process only, and
 * every device of a VM must share one IOMMU address space), and guest RAM mapped into the container
 * at IOVA = guest physical address from the first group on. Closing releases the groups and the
 * container; the devices opened from it must have been closed first.
 */
public final class KernelVfio implements AutoCloseable {

    private final GuestMemory memory;
    private final PciSysfs sysfs;
    private final Map<Integer, VfioGroup> groups = new HashMap<>();
    private final List<VfioGroup> order = new ArrayList<>();
    private VfioContainer container;
    private boolean listening;

    public KernelVfio(GuestMemory memory, PciSysfs sysfs) {
        this.memory = memory;
        this.sysfs = sysfs;
    }

    public PciSysfs sysfs() {
        return sysfs;
    }

    /** Opens the host device at {@code address}, its group and the container first if need be. */
    public synchronized VfioDevice openDevice(PciAddress address) {
        if (!sysfs.exists(address)) {
            throw new VfioException("there is no PCI device " + address + " on this host (lspci -D lists them)");
        }
        if (container == null) {
            container = VfioContainer.open();
        }
        int id = sysfs.iommuGroup(address);
        VfioGroup group = groups.get(id);
        if (group == null) {
            group = VfioGroup.open(id, sysfs);
            try {
                group.attachTo(container);
                if (!listening) {
                    memory.addListener(container); // guest RAM at IOVA = guest physical address
                    listening = true;
                }
            } catch (RuntimeException e) {
                group.close();
                throw e;
            }
            groups.put(id, group);
            order.add(group);
        }
        return group.openDevice(address);
    }

    @Override
    public synchronized void close() {
        if (listening) {
            memory.removeListener(container);
            listening = false;
        }
        for (int i = order.size() - 1; i >= 0; i--) {
            order.get(i).close();
        }
        order.clear();
        groups.clear();
        if (container != null) {
            container.close();
            container = null;
        }
    }
}
