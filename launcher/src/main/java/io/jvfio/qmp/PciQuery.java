package io.jvfio.qmp;

import io.jvfio.machine.VirtualMachine;
import io.jvfio.vmm.device.AttachedDevices;
import io.jvfio.vmm.pci.PciBar;
import io.jvfio.vmm.pci.PciConfigDump;
import io.jvfio.vmm.pci.PciConfigSpace;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciFunction;
import io.jvfio.vmm.pci.PciHostBridge;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.jvfio.vmm.pci.PciRegs.PCI_CLASS_DEVICE;
import static io.jvfio.vmm.pci.PciRegs.PCI_DEVICE_ID;
import static io.jvfio.vmm.pci.PciRegs.PCI_INTERRUPT_LINE;
import static io.jvfio.vmm.pci.PciRegs.PCI_INTERRUPT_PIN;
import static io.jvfio.vmm.pci.PciRegs.PCI_SUBSYSTEM_ID;
import static io.jvfio.vmm.pci.PciRegs.PCI_SUBSYSTEM_VENDOR_ID;
import static io.jvfio.vmm.pci.PciRegs.PCI_VENDOR_ID;

/**
 * {@code query-pci}: the machine's one bus (0, behind the host bridge) in QEMU's PciInfo schema
 * (qapi/pci.json). Everything is read through the bridge's configuration access as the guest would read
 * it: the IDs, the class, the interrupt line and pin, and each BAR's address as the guest (or the
 * built-in driver) has programmed it, 0 for one never programmed (QEMU gives -1 for a BAR that does not
 * decode; jvfio gives the register's value, which is what a management layer compares with the guest's
 * view). {@code qdev_id} is the {@code id=} of the {@code -device}, empty when it had none, as in QEMU.
 */
final class PciQuery {

    private PciQuery() {
    }

    static List<Object> query(VirtualMachine vm) {
        PciHostBridge bridge = vm.bridge();
        Map<PciDevFn, String> ids = new HashMap<>();
        for (AttachedDevices.Attached a : vm.devices().attached()) {
            if (a.config().id() != null) {
                ids.put(a.at(), a.config().id());
            }
        }
        List<Object> devices = new ArrayList<>();
        for (PciDevFn at : bridge.devices()) {
            devices.add(device(bridge, at, ids.getOrDefault(at, "")));
        }
        Map<String, Object> bus = new LinkedHashMap<>();
        bus.put("bus", 0L);
        bus.put("devices", devices);
        return List.of(bus);
    }

    private static Map<String, Object> device(PciHostBridge bridge, PciDevFn at, String qdevId) {
        int devfn = at.devfn();
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("bus", 0L);
        d.put("slot", (long) at.slot());
        d.put("function", (long) at.function());
        int classCode = bridge.configRead(devfn, PCI_CLASS_DEVICE, 2) & 0xffff;
        Map<String, Object> classInfo = new LinkedHashMap<>();
        String desc = PciConfigDump.className(classCode);
        if (desc != null) {
            classInfo.put("desc", desc);
        }
        classInfo.put("class", (long) classCode);
        d.put("class_info", classInfo);
        Map<String, Object> id = new LinkedHashMap<>();
        id.put("device", (long) (bridge.configRead(devfn, PCI_DEVICE_ID, 2) & 0xffff));
        id.put("vendor", (long) (bridge.configRead(devfn, PCI_VENDOR_ID, 2) & 0xffff));
        id.put("subsystem", (long) (bridge.configRead(devfn, PCI_SUBSYSTEM_ID, 2) & 0xffff));
        id.put("subsystem-vendor", (long) (bridge.configRead(devfn, PCI_SUBSYSTEM_VENDOR_ID, 2) & 0xffff));
        d.put("id", id);
        int pin = bridge.configRead(devfn, PCI_INTERRUPT_PIN, 1) & 0xff;
        if (pin != 0) {
            // As QEMU: irq (the interrupt line register) only for a function with an interrupt pin.
            d.put("irq", (long) (bridge.configRead(devfn, PCI_INTERRUPT_LINE, 1) & 0xff));
        }
        d.put("irq_pin", (long) pin);
        d.put("qdev_id", qdevId);
        List<Object> regions = new ArrayList<>();
        PciFunction f = bridge.function(at);
        for (PciBar bar : f == null ? List.<PciBar>of() : f.bars()) {
            if (bar.isRom()) {
                continue; // QEMU's regions are the six BARs; the ROM is not among them
            }
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("bar", (long) bar.index());
            r.put("type", bar.isIo() ? "io" : "memory");
            r.put("address", PciConfigDump.barAddress(bridge, at, bar));
            r.put("size", bar.size());
            if (!bar.isIo()) {
                r.put("prefetch", bar.prefetchable());
                r.put("mem_type_64", bar.type() == PciConfigSpace.BarType.MEMORY64);
            }
            regions.add(r);
        }
        d.put("regions", regions);
        return d;
    }
}
