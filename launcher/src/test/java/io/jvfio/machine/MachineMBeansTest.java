package io.jvfio.machine;

import io.jvfio.launcher.driver.DriverReport;
import io.jvfio.launcher.driver.DriverTarget;
import io.jvfio.launcher.driver.HostDriver;
import io.jvfio.vfio.DmaAddressing;
import io.jvfio.vfio.devices.EduDevice;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciRegs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import javax.management.MBeanServer;
import javax.management.ObjectName;
import java.lang.management.ManagementFactory;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The statistics as a JMX client sees them, through the platform MBean server and nothing of jvfio's
 * (queryNames, getAttribute): a machine without KVM with edu in process, the host-side driver's steps run
 * against it (one MSI-X interrupt, then the storm of 1000), then MSI-X turned off by the "guest", then the
 * machine closed.
 */
@Timeout(120)
class MachineMBeansTest {

    private static final MBeanServer SERVER = ManagementFactory.getPlatformMBeanServer();
    /** edu's registers: raise an interrupt, acknowledge it. */
    private static final int EDU_IRQ_RAISE = 0x60;
    private static final int EDU_IRQ_ACK = 0x64;

    @Test
    void vectorsAndDevicesAreMBeansWhileTheyExist() throws Exception {
        ObjectName all = new ObjectName("io.jvfio:vm=jmx-test,*");
        try (EduDevice edu = new EduDevice()) {
            try (VirtualMachine vm = VirtualMachine.builder().name("jmx-test").memory("64M")
                    .accelerator(VirtualMachine.Accelerator.NONE).device("edu", edu).build()) {
                assertEquals("jmx-test", vm.mbeanName());
                PciDevFn at = vm.devices().attached().get(0).at();
                String device = at.toString(); // no id=: the address names it
                ObjectName deviceName = new ObjectName("io.jvfio:type=PciDevice,vm=jmx-test,device=" + device);
                assertEquals("00:" + at, SERVER.getAttribute(deviceName, "Address"));
                assertEquals("", SERVER.getAttribute(deviceName, "Id"));
                assertEquals("edu", SERVER.getAttribute(deviceName, "Driver"));
                // INTx is wired while the device is attached, before the machine knows the device: registered
                // once it does.
                ObjectName intx = new ObjectName("io.jvfio:type=InterruptVector,vm=jmx-test,device=" + device
                        + ",kind=intx,vector=0");
                assertTrue(SERVER.isRegistered(intx), names(all).toString());

                DriverReport report = new HostDriver(new DriverTarget(vm.memory(), vm.space(), vm.bridge(), at,
                        DmaAddressing.GUEST_PHYSICAL, new DriverTarget.Watch() {
                            @Override
                            public String gone() {
                                return null;
                            }

                            @Override
                            public String lostMapping() {
                                return null;
                            }
                        }, bus -> DmaAddressing.GUEST_PHYSICAL), vm.apics()).run();
                assertTrue(report.passed(), report.render());

                // After the steps (the INTx step last: MSI-X is off), the INTx line's assertions are counted.
                assertTrue((Long) SERVER.getAttribute(intx, "Delivered") >= 1, names(all).toString());
                assertEquals("ring", SERVER.getAttribute(intx, "Path")); // no KVM, no irqfd

                // The guest turns MSI-X on again (vector 0 is still programmed and unmasked in the table): its
                // route is made again, fresh, and registered; one interrupt through it is counted.
                int cap = capability(vm, at, PciRegs.PCI_CAP_ID_MSIX);
                int control = vm.bridge().configRead(at.devfn(), cap + 2, 2);
                vm.bridge().configWrite(at.devfn(), cap + 2, 2, control | 0x8000);
                ObjectName msix0 = new ObjectName("io.jvfio:type=InterruptVector,vm=jmx-test,device=" + device
                        + ",kind=msix,vector=0");
                assertTrue(SERVER.isRegistered(msix0), names(all).toString());
                assertEquals(0L, SERVER.getAttribute(msix0, "Delivered"));
                long bar0 = vm.bridge().configRead(at.devfn(), PciRegs.PCI_BASE_ADDRESS_0, 4) & 0xffff_fff0L;
                vm.space().write(bar0 + EDU_IRQ_RAISE, 4, 1);
                long deadline = System.nanoTime() + 10_000_000_000L;
                while ((Long) SERVER.getAttribute(msix0, "Delivered") < 1) { // the poller delivers it
                    assertTrue(System.nanoTime() < deadline, "no MSI-X interrupt delivered within 10 s");
                    java.util.concurrent.locks.LockSupport.parkNanos(1_000_000); // polls the condition, bounded
                }
                assertEquals(1L, SERVER.getAttribute(msix0, "Delivered"));
                assertEquals(0L, SERVER.getAttribute(msix0, "Undeliverable"));
                assertEquals("ring", SERVER.getAttribute(msix0, "Path"));
                assertEquals("msix", SERVER.getAttribute(msix0, "Kind"));
                assertEquals(0, SERVER.getAttribute(msix0, "Vector"));
                assertEquals(device, SERVER.getAttribute(msix0, "Device"));
                assertEquals(1L, SERVER.getAttribute(msix0, "LatencyCount"));
                long p50 = (Long) SERVER.getAttribute(msix0, "LatencyP50Nanos");
                assertTrue(p50 > 0 && p50 <= (Long) SERVER.getAttribute(msix0, "LatencyMaxNanos"), "p50 " + p50);
                vm.space().write(bar0 + EDU_IRQ_ACK, 4, 1);

                // The guest turns MSI-X off: its vectors' routes go, and their MBeans with them.
                vm.bridge().configWrite(at.devfn(), cap + 2, 2, control & ~0x8000);
                assertFalse(SERVER.isRegistered(msix0), names(all).toString());
                assertTrue(SERVER.isRegistered(deviceName));

                // A second machine may not take the name.
                OptionsException twice = assertThrows(OptionsException.class, () -> VirtualMachine.builder()
                        .name("jmx-test").accelerator(VirtualMachine.Accelerator.NONE).build());
                assertEquals("a machine named 'jmx-test' is already running in this JVM, with its MBeans under "
                        + "vm=jmx-test: give each machine its own name", twice.getMessage());
            }
            assertEquals(Set.of(), names(all), "nothing of the machine is left after its close");
        }
    }

    @Test
    void machinesWithoutANameAreNumbered() throws Exception {
        try (VirtualMachine a = VirtualMachine.builder().accelerator(VirtualMachine.Accelerator.NONE).build();
             VirtualMachine b = VirtualMachine.builder().accelerator(VirtualMachine.Accelerator.NONE).build()) {
            assertTrue(a.mbeanName().matches("[0-9]+") && b.mbeanName().matches("[0-9]+"), a.mbeanName());
            assertFalse(a.mbeanName().equals(b.mbeanName()));
        }
    }

    private static int capability(VirtualMachine vm, PciDevFn at, int id) {
        for (int p = vm.bridge().configRead(at.devfn(), PciRegs.PCI_CAPABILITY_LIST, 1) & 0xfc; p != 0;
                p = vm.bridge().configRead(at.devfn(), p + 1, 1) & 0xfc) {
            if ((vm.bridge().configRead(at.devfn(), p, 1) & 0xff) == id) {
                return p;
            }
        }
        throw new AssertionError("no capability " + id);
    }

    private static Set<ObjectName> names(ObjectName pattern) {
        return new TreeSet<>(SERVER.queryNames(pattern, null));
    }
}
