package io.jvfio.machine;

import io.jvfio.vmm.testing.OnKvm;
import io.jvfio.kvm.GuestCode;
import io.jvfio.kvm.KvmVcpu;
import io.jvfio.kvm.LongModeProgram;
import io.jvfio.memory.GuestRam;
import io.jvfio.memory.GuestRegion;
import io.jvfio.vfio.devices.EduDevice;
import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.user.server.VfioUserServer;
import io.jvfio.vmm.device.AttachedDevices;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.pci.PciHostBridge;
import io.jvfio.vmm.testing.Prerequisites;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The builder without KVM: devices by option string over a real vfio-user socket and by object
 * through the in-process back end, both seen on the host bridge, and closed with the machine; guest
 * RAM clear of the ECAM window. On KVM (the launcher's own runs in MainTest, the example in
 * examples/embedding, and here) a guest reaches config space through ECAM with more RAM than fits
 * below the window.
 */
@OnKvm
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
                    .device("hosted edu", hosted)
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
                assertEquals(32L << 20, vm.memory().ram().totalSize());
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

    /**
     * QEMU's q35 layout: the ECAM window at 0xB0000000 sits below 3 GiB, so RAM that does not fit
     * under it goes below 2 GiB (a GiB boundary, for 1 GiB huge pages) and on from 4 GiB.
     */
    @Test
    void guestRamLeavesTheEcamWindowFree() {
        for (String size : List.of("16M", "2816M", "2817M", "3G", "5G")) {
            try (VirtualMachine vm = VirtualMachine.builder().memory(size).accelerator(VirtualMachine.Accelerator.NONE)
                    .build()) {
                long ecam = vm.bridge().ecamBase();
                for (GuestRegion r : vm.memory().ram().regions()) {
                    assertTrue(r.start() + r.size() <= ecam || r.start() >= ecam + PciHostBridge.ECAM_SIZE,
                            size + ": " + r + " overlaps the ECAM window at 0x" + Long.toHexString(ecam));
                }
                assertEquals(vm.ram().size(), vm.memory().ram().totalSize(), size);
            }
        }
        try (VirtualMachine vm = VirtualMachine.builder().memory("3G").accelerator(VirtualMachine.Accelerator.NONE)
                .build()) {
            assertEquals("['ram-below-4g' [0x0-0x7fffffff], 'ram-above-4g' [0x100000000-0x13fffffff]]",
                    vm.memory().ram().regions().toString());
        }
    }

    /**
     * On KVM guest RAM is memory slots, which the vCPU reaches without an exit: RAM over the ECAM
     * window would silently take the guest's config accesses (a BAR it places never decodes, and its
     * reads of the device return all-ones). With 3 GiB, the guest reads the host bridge's IDs there.
     */
    @Test
    void onKvmTheGuestReachesEcamWithMoreRamThanFitsBelowIt() throws Exception {
        Prerequisites.requireKvm();
        long result = 0x9000;
        try (VirtualMachine vm = VirtualMachine.builder().memory("3G").accelerator(VirtualMachine.Accelerator.KVM)
                .vcpus(1).build()) {
            byte[] code = GuestCode.assemble("""
                    mov rax, 0x%x             # ECAM, 00:00.0 offset 0: the host bridge's vendor and device
                    mov eax, [rax]
                    mov [0x%x], eax
                    mov rax, 0x123456789000   # unmapped, and no IDT: the #PF triple-faults, ending the run
                    mov eax, [rax]
                    """.formatted(vm.bridge().ecamBase(), result));
            GuestRam ram = vm.memory().ram();
            ram.writeU32(result, 0xdead);
            LongModeProgram program = LongModeProgram.of(code, GuestCode.LOAD, 0x80000, 0x10000);
            program.start(ram.slice(0, program.extent()), vm.vcpus());
            assertEquals(List.of(KvmVcpu.Stop.SHUTDOWN), vm.vcpus().start(vm.space()).awaitAll(Duration.ofSeconds(30)));
            assertEquals(vm.bridge().configRead(0, 0, 4), vm.memory().ram().readU32(result),
                    "what the guest read through ECAM (0: RAM lies over the window; 0xdead: it did not get there)");
        }
    }

    @Test
    void aBadDeviceOptionIsRefusedWhenGiven() {
        OptionsException e = assertThrows(OptionsException.class,
                () -> VirtualMachine.builder().device("vfio-user-pci,socket=/x,bogus=1"));
        assertTrue(e.getMessage().contains("bogus"), e.getMessage());
    }

    @Test
    void objectsAreIommufdsCheckedWhenGiven() {
        OptionsException other = assertThrows(OptionsException.class,
                () -> VirtualMachine.builder().object("memory-backend-memfd,id=m,size=1M"));
        assertTrue(other.getMessage().contains("memory(MemoryBackendConfig.parse"), other.getMessage());
        OptionsException duplicate = assertThrows(OptionsException.class,
                () -> VirtualMachine.builder().object("iommufd,id=i0").object("iommufd,id=i0"));
        assertEquals("Duplicate ID 'i0' for object", duplicate.getMessage());
        assertThrows(OptionsException.class, () -> VirtualMachine.builder().object("iommufd,id=i0,bogus=1"));
    }

    @Test
    void anIommufdObjectIsOpenedFirstAndItsErrorNamesIt() {
        // fd 0 is the test's stdin, not /dev/iommu: the object is refused before RAM or a VM exists, and
        // the fd is left alone (not adopted, so not closed).
        VirtualMachine.Builder b = VirtualMachine.builder().memory("16M").accelerator(VirtualMachine.Accelerator.NONE)
                .object("iommufd,id=i0,fd=0");
        VfioException e = assertThrows(VfioException.class, b::build);
        assertTrue(e.getMessage().startsWith("-object iommufd,id=i0,fd=0: fd 0 is "), e.getMessage());
        assertTrue(e.getMessage().endsWith("; pass an fd of /dev/iommu"), e.getMessage());
    }

    @Test
    void aMachineNeedsAVcpu() {
        assertThrows(OptionsException.class, () -> VirtualMachine.builder().vcpus(0));
    }
}
