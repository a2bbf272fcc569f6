package io.jvfio.vfio.passthrough;

import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.InterruptRouterConfig;
import io.jvfio.kvm.GuestCode;
import io.jvfio.kvm.KvmVcpu;
import io.jvfio.kvm.TinyGuest;
import io.jvfio.kvm.irq.KvmMsiSink;
import io.jvfio.vfio.devices.EduDevice;
import io.jvfio.vfio.devices.EduRegisters;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vfio.user.server.VfioUserServer;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciHostBridge;
import io.jvfio.vmm.testing.OnKvm;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;

import static io.jvfio.vmm.pci.PciRegs.PCI_CAP_ID_MSIX;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MASTER;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MEMORY;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_FLAGS_ENABLE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A guest's doorbell through a real KVM_IOEVENTFD: edu served over vfio-user, its BAR0 doorbell (a
 * write of 0 to MSIX_FIRE) offered with DEVICE_GET_REGION_IO_FDS and placed by the device model in
 * the address space, where KvmVm registers it. The guest writes the doorbell and waits for the MSI-X
 * interrupt edu then fires, {@value #ROUNDS} times, and ends with one ordinary trapped write. With
 * the ioeventfd the vCPU made exactly one MMIO exit (that last write) and the client sent one
 * REGION_WRITE; every doorbell still reached the device (each interrupt came). With
 * {@code x-no-kvm-ioeventfd=on}, each doorbell write is an MMIO exit and a REGION_WRITE. BAR0 is moved
 * before the guest runs, so the ioeventfd it rings is the re-registered one.
 */
@OnKvm
class PassthroughDoorbellKvmTest {

    /** Where the device sits, BAR1, the guest's parameters, its interrupt count and its done port: the two-vCPU test's. */
    static final PciDevFn AT = PassthroughTwoVcpuTest.AT;
    static final long BAR1 = PassthroughTwoVcpuTest.BAR1;
    static final int PARAMS = PassthroughTwoVcpuTest.PARAMS;
    static final int COUNT = PassthroughTwoVcpuTest.COUNT;
    static final int DONE_PORT = PassthroughTwoVcpuTest.DONE_PORT;
    /** BAR0 placed here first, then moved before the guest runs. */
    static final long BAR0_FIRST = 0xE000_0000L;
    static final long BAR0 = 0xE080_0000L;
    static final int ROUNDS = 200;

    static final String GUEST = """
                apic_on_with_gate 0x40, counted
                sti
                mov r8, [0xa000]              # BAR0
                mov r10, [0xa008]             # rounds
                xor r12, r12
            round:
                mov dword ptr [r8 + 0x68], 0  # the doorbell: MSI-X vector 0
                lea rdx, [r12 + 1]
            wait_irq:
                mov rax, [0xa200]
                cmp rax, rdx
                jae came
                pause
                jmp wait_irq
            came:
                inc r12
                cmp r12, r10
                jb round
                mov dword ptr [r8 + 4], 0x1234 # an ordinary trapped write: liveness
                xor eax, eax                  # vCPU 0, no failure
                mov dx, 0x510
                out dx, eax
            """ + PassthroughTwoVcpuTest.HALT_AND_COUNT;

    @TempDir
    Path dir;

    @BeforeEach
    void kvm() {
        TinyGuest.requireKvm();
    }

    @ParameterizedTest(name = "x-no-kvm-ioeventfd={0}")
    @ValueSource(booleans = {false, true})
    void theGuestsDoorbellReachesTheServerWithoutAnExit(boolean noKvmIoeventfd) throws Exception {
        Path socket = dir.resolve("edu.sock");
        PassthroughOptions options = PassthroughOptions.DEFAULT.withIoeventfds(noKvmIoeventfd, false);
        try (EduDevice edu = new EduDevice();
             TinyGuest g = new TinyGuest(GuestCode.assemble(GUEST));
             InterruptRouter router = new InterruptRouter(new KvmMsiSink(g.vm), InterruptRouterConfig.DEFAULT, null);
             VfioUserServer server = VfioUserServer.start(socket, edu);
             VfioUserClient client = VfioUserClient.connect(socket, 5000, null);
             PassthroughDevice device = new PassthroughDevice("edu", client, options, g.space, router)) {
            PciHostBridge bridge = new PciHostBridge(g.space, PciHostBridge.DEFAULT_ECAM_BASE);
            int devfn = bridge.add(AT, false, device, "vfio-user-pci").devfn();
            bridge.configWrite(devfn, 0x10, 4, (int) BAR0_FIRST);
            bridge.configWrite(devfn, 0x14, 4, (int) BAR1);
            bridge.configWrite(devfn, 0x04, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
            bridge.configWrite(devfn, 0x10, 4, (int) BAR0); // moved with decoding on: re-registered there
            int msix = PassthroughTwoVcpuTest.capability(bridge, devfn, PCI_CAP_ID_MSIX);
            bridge.configWrite(devfn, msix + 2, 2, PCI_MSIX_FLAGS_ENABLE);
            g.space.write(BAR1, 4, 0xFEE0_0000L);
            g.space.write(BAR1 + 4, 4, 0);
            g.space.write(BAR1 + 8, 4, 0x40);
            g.space.write(BAR1 + 12, 4, 0);
            assertEquals(noKvmIoeventfd ? 0 : 1, device.doorbells().size());
            if (!noKvmIoeventfd) {
                assertEquals(BAR0 + EduRegisters.MSIX_FIRE, device.doorbells().get(0).address());
            }
            g.memory.putLong(PARAMS, BAR0);
            g.memory.putLong(PARAMS + 8, ROUNDS);
            g.space.pio().add("done", DONE_PORT, 4, new PassthroughTwoVcpuTest.Done(g));
            long requestsBefore = client.regionRequests();
            long mmioBefore = g.vcpu.exits().mmio();

            g.start();
            assertEquals(KvmVcpu.Stop.REQUESTED, g.await(120), "the guest ended");
            client.flushPostedWrites();
            long mmio = g.vcpu.exits().mmio() - mmioBefore;
            long requests = client.regionRequests() - requestsBefore;
            String what = ROUNDS + " doorbells: " + g.memory.getLong(COUNT) + " interrupts, " + mmio + " MMIO exits, "
                    + requests + " region requests, " + server.doorbellsRung() + " eventfd wake-ups at the server; "
                    + g.vcpu.exits();
            System.out.println("x-no-kvm-ioeventfd=" + noKvmIoeventfd + ": " + what);
            assertEquals(ROUNDS, g.memory.getLong(COUNT), "every doorbell reached edu, which fired: " + what);
            if (noKvmIoeventfd) {
                assertEquals(ROUNDS + 1, mmio, "each doorbell trapped: " + what);
                assertEquals(ROUNDS + 1, requests, what);
                assertEquals(0, server.doorbellsRung(), what);
            } else {
                assertEquals(1, mmio, "only the liveness write left the kernel: " + what);
                assertEquals(1, requests, "only the liveness write was a REGION_WRITE: " + what);
                assertTrue(server.doorbellsRung() >= 1 && server.doorbellsRung() <= ROUNDS, what);
            }
            assertEquals(~0x1234, (int) client.read(0, EduRegisters.LIVENESS, 4), "the trapped write arrived");
        }
    }
}
