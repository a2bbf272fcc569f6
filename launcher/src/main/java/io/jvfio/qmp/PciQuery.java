package io.jvfio.qmp;

import io.jvfio.machine.VirtualMachine;
import io.jvfio.vmm.device.AttachedDevices;
import io.jvfio.vmm.pci.PciBar;
import io.jvfio.vmm.pci.PciBridgeFunction;
import io.jvfio.vmm.pci.PciBridgeWindows;
import io.jvfio.vmm.pci.PciConfigDump;
import io.jvfio.vmm.pci.PciConfigSpace;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciFunction;
import io.jvfio.vmm.pci.PciHostBridge;
import io.jvfio.vmm.pci.PciRegs;

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
 * A PCI-to-PCI bridge (a {@code pcie-root-port}) has QEMU's {@code pci_bridge}: its bus numbers and
 * windows as the guest programmed them, and the device behind it, read from the function itself
 * (its {@code bus} is the bridge's secondary bus number, 0 while the guest has not numbered it).
 */
final class PciQuery {

    private PciQuery() {
    }

    static List<Object> query(VirtualMachine vm) {
        PciHostBridge bridge = vm.bridge();
        Map<PciDevFn, String> ids = new HashMap<>();
        Map<PciDevFn, String> behindIds = new HashMap<>();
        for (AttachedDevices.Attached a : vm.devices().attached()) {
            if (a.config().id() != null) {
                (a.upstream() == null ? ids : behindIds).put(a.upstream() == null ? a.at() : a.upstream(),
                        a.config().id());
            }
        }
        List<Object> devices = new ArrayList<>();
        for (PciDevFn at : bridge.devices()) {
            int devfn = at.devfn();
            PciFunction f = bridge.function(at);
            Map<String, Object> d = device((offset, size) -> bridge.configRead(devfn, offset, size), f, 0, at,
                    ids.getOrDefault(at, ""));
            if (f instanceof PciBridgeFunction) {
                d.put("pci_bridge", bridgeInfo(f, bridge.behind(at), behindIds.getOrDefault(at, "")));
            }
            devices.add(d);
        }
        Map<String, Object> bus = new LinkedHashMap<>();
        bus.put("bus", 0L);
        bus.put("devices", devices);
        return List.of(bus);
    }

    /** A configuration read of one function. */
    private interface ConfigReader {
        int read(int offset, int size);
    }

    /** QEMU's PciBridgeInfo: the bus numbers, the three windows, and the device behind. */
    private static Map<String, Object> bridgeInfo(PciFunction bridge, PciFunction behind, String behindId) {
        int secondary = bridge.readConfig(PciRegs.PCI_SECONDARY_BUS, 1) & 0xFF;
        Map<String, Object> bus = new LinkedHashMap<>();
        bus.put("number", (long) secondary);
        bus.put("secondary", (long) secondary);
        bus.put("subordinate", (long) (bridge.readConfig(PciRegs.PCI_SUBORDINATE_BUS, 1) & 0xFF));
        bus.put("io_range", range(PciBridgeWindows.io(bridge)));
        bus.put("memory_range", range(PciBridgeWindows.memory(bridge)));
        bus.put("prefetchable_range", range(PciBridgeWindows.prefetchable(bridge)));
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("bus", bus);
        List<Object> devices = new ArrayList<>();
        if (behind != null) {
            devices.add(device(behind::readConfig, behind, secondary, new PciDevFn(0, 0), behindId));
        }
        info.put("devices", devices);
        return info;
    }

    private static Map<String, Object> range(long[] window) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("base", window[0]);
        r.put("limit", window[1]);
        return r;
    }

    private static Map<String, Object> device(ConfigReader config, PciFunction f, int busNumber, PciDevFn at,
            String qdevId) {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("bus", (long) busNumber);
        d.put("slot", (long) at.slot());
        d.put("function", (long) at.function());
        int classCode = config.read(PCI_CLASS_DEVICE, 2) & 0xffff;
        Map<String, Object> classInfo = new LinkedHashMap<>();
        String desc = PciConfigDump.className(classCode);
        if (desc != null) {
            classInfo.put("desc", desc);
        }
        classInfo.put("class", (long) classCode);
        d.put("class_info", classInfo);
        Map<String, Object> id = new LinkedHashMap<>();
        id.put("device", (long) (config.read(PCI_DEVICE_ID, 2) & 0xffff));
        id.put("vendor", (long) (config.read(PCI_VENDOR_ID, 2) & 0xffff));
        id.put("subsystem", (long) (config.read(PCI_SUBSYSTEM_ID, 2) & 0xffff));
        id.put("subsystem-vendor", (long) (config.read(PCI_SUBSYSTEM_VENDOR_ID, 2) & 0xffff));
        d.put("id", id);
        int pin = config.read(PCI_INTERRUPT_PIN, 1) & 0xff;
        if (pin != 0) {
            // As QEMU: irq (the interrupt line register) only for a function with an interrupt pin.
            d.put("irq", (long) (config.read(PCI_INTERRUPT_LINE, 1) & 0xff));
        }
        d.put("irq_pin", (long) pin);
        d.put("qdev_id", qdevId);
        List<Object> regions = new ArrayList<>();
        for (PciBar bar : f == null ? List.<PciBar>of() : f.bars()) {
            if (bar.isRom()) {
                continue; // QEMU's regions are the six BARs; the ROM is not among them
            }
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("bar", (long) bar.index());
            r.put("type", bar.isIo() ? "io" : "memory");
            r.put("address", PciConfigDump.barAddress(f, bar));
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
