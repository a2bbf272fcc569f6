package io.jvfio.machine;

import io.jvfio.irq.InterruptRouter;
import io.jvfio.memory.GuestMemory;
import io.jvfio.vfio.devices.EduDevice;
import io.jvfio.vfio.inprocess.InProcessBackend;
import io.jvfio.vfio.passthrough.PassthroughDevice;
import io.jvfio.vfio.passthrough.PassthroughOptions;
import io.jvfio.vfio.user.server.VfioUserServer;
import io.jvfio.vmm.device.AttachedDevices;
import io.jvfio.vmm.options.OptionsException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The builder without KVM (the KVM path is the launcher's own runs, MainTest, and the example in
 * examples/embedding): devices by option string over a real vfio-user socket and by object through
 * the in-process back end, both seen on the host bridge, and closed with the machine.
 */
class VirtualMachineTest {

    private static final int EDU_IDS = 0x11e8_1234; // device 0x11e8, vendor 0x1234

    @TempDir
    Path dir;

    @Test
    void devicesByOptionStringAndByObjectSitOnTheBridge() {
        EduDevice served = new EduDevice();
        EduDevice hosted = new EduDevice();
        try (VfioUserServer server = VfioUserServer.start(dir.resolve("edu.sock"), served)) {
            VirtualMachine vm = VirtualMachine.builder()
                    .memory("32M")
                    .accelerator(VirtualMachine.Accelerator.NONE)
                    .vcpus(2)
                    .device("vfio-user-pci,socket=" + server.path() + ",addr=05.0")
                    .device("hosted edu", machine -> {
                        InProcessBackend b = InProcessBackend.attach("hosted edu", hosted,
                                machine.require(GuestMemory.class));
                        machine.onClose(b);
                        PassthroughDevice d = new PassthroughDevice("hosted edu", b, PassthroughOptions.DEFAULT,
                                machine.space(), machine.require(InterruptRouter.class));
                        machine.onClose(d);
                        return d;
                    })
                    .build();
            List<AttachedDevices.Attached> attached;
            try {
                attached = vm.devices().attached();
                assertEquals(2, attached.size());
                assertEquals("05.0", attached.get(0).at().toString());
                for (AttachedDevices.Attached a : attached) {
                    assertEquals(EDU_IDS, vm.bridge().configRead(a.at().devfn(), 0, 4), a.toString());
                }
                assertEquals(32L << 20, vm.ram().size());
                assertEquals(32L << 20, vm.memory().totalSize());
                assertNull(vm.vcpus());
                assertTrue(vm.apics() != null);
            } finally {
                vm.close();
            }
            // Closing the machine closed the devices (and what they handed over) and forgot them.
            assertEquals(0, vm.devices().attached().size());
        } finally {
            served.close();
            hosted.close();
        }
    }

    @Test
    void aBadDeviceOptionIsRefusedWhenGiven() {
        OptionsException e = assertThrows(OptionsException.class,
                () -> VirtualMachine.builder().device("vfio-user-pci,socket=/x,bogus=1"));
        assertTrue(e.getMessage().contains("bogus"), e.getMessage());
    }

    @Test
    void aMachineNeedsAVcpu() {
        assertThrows(OptionsException.class, () -> VirtualMachine.builder().vcpus(0));
    }
}
