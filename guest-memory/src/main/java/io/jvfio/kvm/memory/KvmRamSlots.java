package io.jvfio.kvm.memory;

import io.jvfio.kvm.KvmVm;

import io.jvfio.memory.DmaMapping;
import io.jvfio.memory.DmaMappingListener;
import io.jvfio.memory.GuestMemory;
import java.util.HashMap;
import java.util.Map;

/**
 * Guest RAM as KVM memory slots: each region of a {@link GuestMemory} becomes a slot at its guest
 * physical address, and goes before its memory does (the listener contract), so a vCPU never runs
 * on freed pages.
 */
public final class KvmRamSlots implements DmaMappingListener {

    private final KvmVm vm;
    private final Map<Long, Integer> slots = new HashMap<>();

    public KvmRamSlots(KvmVm vm) {
        this.vm = vm;
    }

    @Override
    public synchronized void map(DmaMapping m) {
        slots.put(m.iova(), vm.addMemory(m.iova(), m.size(), m.hostAddress(), !m.writable()));
    }

    @Override
    public synchronized void unmap(DmaMapping m) {
        Integer slot = slots.remove(m.iova());
        if (slot != null) {
            vm.removeMemory(slot);
        }
    }
}
