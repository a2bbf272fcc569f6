package io.jvfio.qmp;

import io.jvfio.machine.VirtualMachine;
import io.jvfio.vfio.kernel.PciSysfs;
import io.jvfio.vmm.pci.PciAddress;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTSTA_ABP;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTSTA_CC;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTSTA_DLLSC;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTSTA_PDC;

/**
 * Runs inside the nested VM ({@link NestedHotplugIT}): a machine without KVM with a
 * {@code pcie-root-port} and a QMP monitor; over the monitor's socket, {@code device_add} of QEMU's edu
 * through kernel VFIO ({@code vfio-pci,host=...,bus=rp1}), the guest's side played by
 * {@link HotplugGuest} (power on, enumerate, read edu's ID register through the port's window), then
 * {@code device_del}, the slot powered off, and {@code DEVICE_DELETED}. A second process tries the
 * device's VFIO group while the device is attached (busy: a group opens in one process at a time) and
 * after the release (it opens). Each check prints {@code JVFIO-HOTPLUG name PASS|FAIL detail}.
 * With {@code open PATH}, it is that second process: it opens the group and exits 0, or 1 if it cannot.
 */
public final class NestedHotplugProbe {

    private static int failures;

    private NestedHotplugProbe() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 2 && args[0].equals("open")) {
            try (RandomAccessFile f = new RandomAccessFile(args[1], "rw")) {
                System.out.println("JVFIO-OPEN opened " + args[1]);
                System.exit(0);
            } catch (IOException e) {
                System.out.println("JVFIO-OPEN cannot open " + args[1] + ": " + e.getMessage());
                System.exit(1);
            }
        }
        try {
            run(PciAddress.tryParse(args[0]));
        } catch (Throwable t) {
            check("probe", false, t.toString());
            t.printStackTrace(System.out);
        }
        System.out.println("JVFIO-HOTPLUG done, " + failures + " failed");
        System.exit(failures == 0 ? 0 : 1);
    }

    private static void check(String name, boolean pass, String detail) {
        if (!pass) {
            failures++;
        }
        System.out.println("JVFIO-HOTPLUG " + name + (pass ? " PASS " : " FAIL ") + detail);
    }

    /** A second JVM opening {@code group}: its exit status and what it said. */
    private static String reopen(String group) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"),
                NestedHotplugProbe.class.getName(), "open", group).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        return p.waitFor() + " " + out;
    }

    private static void run(PciAddress edu) throws Exception {
        PciSysfs sysfs = PciSysfs.system();
        sysfs.bindToVfioPci(edu);
        String group = "/dev/vfio/" + sysfs.iommuGroup(edu);
        Path socket = Path.of("/dev/shm/qmp.sock");
        try (VirtualMachine vm = VirtualMachine.builder().memory("64M").accelerator(VirtualMachine.Accelerator.NONE)
                .device("pcie-root-port,id=rp1,chassis=1,slot=1").build();
             QmpMonitor monitor = QmpMonitor.open(vm, QmpChardev.parse("unix:" + socket + ",server=on,wait=off"),
                     "nested", null, null);
             QmpTestClient c = QmpTestClient.negotiated(socket)) {
            HotplugGuest guest = new HotplugGuest(vm, "rp1");
            guest.bringUpPort();
            String added = c.execute("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"vfio-pci\",\"id\":\"d1\","
                    + "\"bus\":\"rp1\",\"host\":\"" + edu + "\"}}").text();
            check("device_add", added.equals("{\"return\":{}}"), added);
            String busy = reopen(group);
            check("busy", busy.startsWith("1 "), "a second process while the device is attached: " + busy);

            guest.takeInterrupt();
            guest.clear(PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC);
            guest.powerOn();
            guest.takeInterrupt();
            guest.clear(PCI_EXP_SLTSTA_CC);
            int ids = guest.enumerateAndPlaceBar0();
            check("enumerate", ids == 0x11e8_1234, String.format("bus %d device 0: %08x", HotplugGuest.SECONDARY, ids));
            long id = vm.space().read(HotplugGuest.WINDOW, 4);
            check("id", id == 0x010000edL, String.format("edu's ID register through the port's window: %08x", id));
            String pci = c.execute("{\"execute\":\"query-pci\"}").text();
            check("query-pci", pci.contains("\"qdev_id\":\"d1\""), pci);

            String del = c.execute("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"d1\"}}").text();
            check("device_del", del.equals("{\"return\":{}}"), del);
            guest.takeInterrupt();
            guest.clear(PCI_EXP_SLTSTA_ABP);
            guest.quiesce();
            guest.powerOff();
            QmpTestClient.Message deleted = c.event();
            check("DEVICE_DELETED", "DEVICE_DELETED".equals(deleted.map().get("event"))
                    && Map.of("device", "d1", "path", "/machine/peripheral/d1").equals(deleted.map().get("data")),
                    deleted.text());
            String reopened = reopen(group);
            check("reopen", reopened.startsWith("0 "), "a second process after DEVICE_DELETED: " + reopened);
            List<String> left = vm.devices().attached().stream().map(a -> String.valueOf(a.config())).toList();
            check("gone", vm.devices().find("d1") == null, "devices left: " + left);
        }
    }
}
