package io.jvfio.qmp;

import io.jvfio.machine.VirtualMachine;
import io.jvfio.vfio.devices.EduDevice;
import io.jvfio.vfio.user.server.VfioUserServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static io.jvfio.vmm.pci.PciRegs.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * PCI Express hotplug driven as a management layer drives it, over the monitor's socket, of a machine
 * without KVM ({@code -accel none}) with a {@code pcie-root-port}: {@code device_add} of a vfio-user edu
 * (the Java edu, served in this test) onto the port, then {@code device_del}. The test plays the guest
 * OS through configuration cycles on the machine's buses: it takes the hotplug MSI at the virtual local
 * APIC, reads Slot Status, powers the slot on, numbers the bus, opens the port's window, places edu's
 * BAR and reads edu's ID register through MMIO; then sees the attention button and powers the slot off,
 * and the client gets DEVICE_DELETED. The device's release is checked from outside: the server saw its
 * client leave, and this process's file descriptors and threads are back to what they were.
 */
@Timeout(300)
class QmpHotplugTest {

    private static final int SECONDARY = HotplugGuest.SECONDARY;
    private static final int EDU_IDS = 0x11e8_1234;

    @TempDir
    Path dir;
    private Path socket;
    private EduDevice edu;
    private VfioUserServer server;
    private VirtualMachine vm;
    private QmpMonitor monitor;
    private HotplugGuest guest;

    @BeforeEach
    void open() {
        socket = dir.resolve("qmp.sock");
        edu = new EduDevice();
        server = VfioUserServer.start(dir.resolve("edu.sock"), edu);
        vm = VirtualMachine.builder().memory("64M").accelerator(VirtualMachine.Accelerator.NONE)
                .device("pcie-root-port,id=rp1,chassis=1,slot=7").build();
        guest = new HotplugGuest(vm, "rp1");
        monitor = QmpMonitor.open(vm, QmpChardev.parse("unix:" + socket + ",server=on,wait=off"), "test", null, null);
    }

    @AfterEach
    void close() {
        monitor.close();
        vm.close();
        server.close();
        edu.close();
    }

    private static Set<String> threads() {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).map(Thread::getName)
                .collect(Collectors.toSet());
    }

    private static Set<String> added(Set<String> before) {
        Set<String> now = threads();
        now.removeAll(before);
        return now;
    }

    private static int openFds() {
        return Objects.requireNonNull(new File("/proc/self/fd").list()).length;
    }

    @Test
    void hotAddEnumerateThenHotRemoveReleasesTheDevice() throws Exception {
        try (QmpTestClient c = QmpTestClient.negotiated(socket)) {
            String pci = c.execute("{\"execute\":\"query-pci\"}").text();
            assertTrue(pci.contains("\"qdev_id\":\"rp1\""), pci);
            assertTrue(pci.contains("\"pci_bridge\":{\"bus\":{\"number\":0,\"secondary\":0,\"subordinate\":0"), pci);
            guest.bringUpPort();
            assertEquals(0, guest.slot(PCI_EXP_SLTSTA), "an empty slot");
            assertEquals(PCI_EXP_SLTCTL_PWR_OFF, guest.slot(PCI_EXP_SLTCTL) & PCI_EXP_SLTCTL_PCC, "its power off");
            Set<Thread> threadsBefore = Thread.getAllStackTraces().keySet();
            Set<String> namesBefore = threads();
            int fdsBefore = openFds();

            assertEquals("{\"return\":{}}", c.execute("{\"execute\":\"device_add\",\"arguments\":{\"driver\":"
                    + "\"vfio-user-pci\",\"id\":\"d1\",\"bus\":\"rp1\",\"socket\":\"" + server.path() + "\"}}").text());
            assertTrue(server.hasClient(), "the device connected to the server");

            // The guest: the hotplug interrupt, presence detected, the link up.
            guest.takeInterrupt();
            assertEquals(PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC, guest.slot(PCI_EXP_SLTSTA));
            assertTrue((guest.slot(PCI_EXP_LNKSTA) & PCI_EXP_LNKSTA_DLLLA) != 0);
            assertEquals(-1, guest.read(SECONDARY, 0, PCI_VENDOR_ID, 4), "nothing answers before power is on");
            guest.clear(PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC);
            guest.powerOn();
            guest.takeInterrupt(); // command completed
            guest.clear(PCI_EXP_SLTSTA_CC);
            // Enumerate behind the port, size and place BAR0 in the port's window, read edu's ID register.
            assertEquals(EDU_IDS, guest.enumerateAndPlaceBar0());
            assertEquals(0x010000edL, vm.space().read(HotplugGuest.WINDOW, 4),
                    "edu's ID register through the port's window");
            pci = c.execute("{\"execute\":\"query-pci\"}").text();
            assertTrue(pci.contains("\"pci_bridge\":{\"bus\":{\"number\":1,\"secondary\":1,\"subordinate\":1"), pci);
            assertTrue(pci.contains("\"memory_range\":{\"base\":3221225472,\"limit\":3222274047}"), pci);
            assertTrue(pci.contains("\"devices\":[{\"bus\":1,\"slot\":0,\"function\":0"), pci);
            assertTrue(pci.contains("\"qdev_id\":\"d1\""), pci);

            // A second device on the port's link, a device_del of what is not there.
            assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"PCI: slot 0 function 0 not available for "
                    + "vfio-user-pci, in use by vfio-user-pci,id=d1\"}}", c.execute("{\"execute\":\"device_add\","
                    + "\"arguments\":{\"driver\":\"vfio-user-pci\",\"id\":\"d2\",\"bus\":\"rp1\",\"socket\":\""
                    + server.path() + "\"}}").text());
            assertEquals("{\"error\":{\"class\":\"DeviceNotFound\",\"desc\":\"Device 'nope' not found\"}}",
                    c.execute("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"nope\"}}").text());
            assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"Bus 'pcie.0' does not support "
                    + "hotplugging\"}}", c.execute("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"rp1\"}}")
                    .text());

            // device_del: answered at once, the attention button pressed; a second one while it is pending.
            assertEquals("{\"return\":{}}", c.execute("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"d1\"}}")
                    .text());
            assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"Device d1 is already in the process of "
                    + "unplug\"}}", c.execute("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"d1\"}}").text());
            guest.takeInterrupt();
            assertEquals(PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_ABP, guest.slot(PCI_EXP_SLTSTA));
            assertTrue(c.quietFor(200), "nothing is deleted before the guest lets go");
            guest.clear(PCI_EXP_SLTSTA_ABP);
            // The guest quiesces the device and turns the slot off, power indicator off.
            guest.quiesce();
            guest.powerOff();
            QmpTestClient.Message deleted = c.event();
            assertEquals("DEVICE_DELETED", deleted.map().get("event"), deleted.text());
            assertEquals(Map.of("device", "d1", "path", "/machine/peripheral/d1"), deleted.map().get("data"));
            guest.takeInterrupt(); // presence detect changed
            assertEquals(PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC | PCI_EXP_SLTSTA_CC, guest.slot(PCI_EXP_SLTSTA));
            assertEquals(-1, guest.read(SECONDARY, 0, PCI_VENDOR_ID, 4), "nothing behind the port");
            assertTrue(vm.devices().find("d1") == null);

            // Released: the server saw its client leave, and the fds and threads the device had are gone.
            assertTrue(server.awaitNoClient(30, TimeUnit.SECONDS), "the server saw the client leave");
            assertEquals(0, server.dmaWindows(), "the client's DMA windows went with it");
            List<Thread> added = new ArrayList<>(Thread.getAllStackTraces().keySet());
            added.removeAll(threadsBefore);
            for (Thread t : added) {
                t.join(TimeUnit.SECONDS.toMillis(30));
            }
            assertEquals(Set.of(), added(namesBefore), "threads the device started that are still running");
            assertEquals(fdsBefore, openFds(), "open file descriptors after the release");
            assertTrue(pci.contains("\"qdev_id\":\"d1\""));
            assertFalse(c.execute("{\"execute\":\"query-pci\"}").text().contains("\"qdev_id\":\"d1\""));

            // The port takes a device again, with the same id.
            guest.clear(guest.slot(PCI_EXP_SLTSTA));
            assertEquals("{\"return\":{}}", c.execute("{\"execute\":\"device_add\",\"arguments\":{\"driver\":"
                    + "\"vfio-user-pci\",\"id\":\"d1\",\"bus\":\"rp1\",\"socket\":\"" + server.path() + "\"}}").text());
            guest.takeInterrupt();
        }
    }

    /**
     * A guest that never answers the attention button: device_del is answered at once, the device stays
     * (no DEVICE_DELETED), a second device_del is refused while the request is pending and, once QEMU's 5 s
     * have passed, presses the button again, as QEMU's does; the device is still there after.
     */
    @Test
    void aGuestThatDoesNotAnswerKeepsTheDevice() throws Exception {
        try (QmpTestClient c = QmpTestClient.negotiated(socket)) {
            guest.bringUpPort();
            assertEquals("{\"return\":{}}", c.execute("{\"execute\":\"device_add\",\"arguments\":{\"driver\":"
                    + "\"vfio-user-pci\",\"id\":\"d1\",\"bus\":\"rp1\",\"socket\":\"" + server.path() + "\"}}").text());
            guest.takeInterrupt();
            guest.clear(PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC);
            guest.powerOn();
            guest.takeInterrupt();
            guest.clear(PCI_EXP_SLTSTA_CC);

            long asked = System.nanoTime();
            assertEquals("{\"return\":{}}", c.execute("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"d1\"}}")
                    .text());
            // The guest takes the interrupt and does nothing more. Ask again until the request is no
            // longer pending: a condition, bounded well past QEMU's 5 s.
            guest.takeInterrupt();
            String again;
            long deadline = asked + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
            do {
                again = c.execute("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"d1\"}}").text();
                if (again.equals("{\"return\":{}}")) {
                    break;
                }
                assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"Device d1 is already in the process "
                        + "of unplug\"}}", again);
                assertTrue(c.quietFor(100), "no DEVICE_DELETED while the guest holds on to the device");
            } while (System.nanoTime() < deadline);
            long pendingMillis = java.util.concurrent.TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - asked);
            assertEquals("{\"return\":{}}", again, "device_del pressed the button again after the pending period");
            assertTrue(pendingMillis >= VirtualMachine.UNPLUG_PENDING.toMillis(), "pending for " + pendingMillis
                    + " ms, QEMU's is " + VirtualMachine.UNPLUG_PENDING.toMillis());
            String pci = c.execute("{\"execute\":\"query-pci\"}").text();
            assertTrue(pci.contains("\"qdev_id\":\"d1\""), "the device stays: " + pci);
            assertTrue(server.hasClient(), "its connection too");
        }
    }

    @Test
    void badDeviceAddsAreAnsweredInQemusWords() throws Exception {
        try (QmpTestClient c = QmpTestClient.negotiated(socket)) {
            assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"Parameter 'driver' is missing\"}}",
                    c.execute("{\"execute\":\"device_add\",\"arguments\":{\"id\":\"x\"}}").text());
            assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"'nic9000' is not a valid device model "
                    + "name\"}}", c.execute("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"nic9000\"}}").text());
            assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"Bus 'rp9' not found\"}}",
                    c.execute("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"vfio-user-pci\",\"bus\":"
                            + "\"rp9\",\"socket\":\"" + server.path() + "\"}}").text());
            assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"Bus 'pcie.0' does not support "
                    + "hotplugging (give bus= the id of a pcie-root-port)\"}}", c.execute("{\"execute\":\"device_add\","
                    + "\"arguments\":{\"driver\":\"vfio-user-pci\",\"socket\":\"" + server.path() + "\"}}").text());
            assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"Duplicate ID 'rp1' for device\"}}",
                    c.execute("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"vfio-user-pci\",\"id\":"
                            + "\"rp1\",\"bus\":\"rp1\",\"socket\":\"" + server.path() + "\"}}").text());
            assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"Invalid parameter type for 'driver', "
                    + "expected: string\"}}", c.execute("{\"execute\":\"device_add\",\"arguments\":{\"driver\":1}}")
                    .text());
            String bad = c.execute("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"vfio-user-pci\",\"bus\":"
                    + "\"rp1\",\"colour\":\"red\",\"socket\":\"" + server.path() + "\"}}").text();
            assertTrue(bad.contains("colour"), bad);
            assertFalse(server.hasClient(), "no failed device_add connected");
            String commands = c.execute("{\"execute\":\"query-commands\"}").text();
            assertTrue(commands.contains("{\"name\":\"device_add\"}") && commands.contains("{\"name\":\"device_del\"}"));
            assertEquals("{\"return\":{\"running\":true,\"status\":\"running\"}}",
                    c.execute("{\"execute\":\"query-status\"}").text());
        }
    }
}
