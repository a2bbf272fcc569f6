package io.jvfio.vfio.passthrough;

import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.VirtualInterruptController;
import io.jvfio.vfio.devices.EduRegisters;
import io.jvfio.vfio.user.ServedEdu;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.bus.IoEventFd;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciHostBridge;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static io.jvfio.vmm.linux.jna.LinuxConstants.POLLIN;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSIX_IRQ_INDEX;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MEMORY;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The device model's side of a vfio-user server's doorbells, without KVM: placed in the address
 * space where BAR0 sits (a listener in KVM's place records what KvmVm would register), moved with the
 * BAR, removed when decoding stops and at close, none with {@code x-no-kvm-ioeventfd=on}; and with no
 * listener to take them, the trapped write that matches signals the eventfd itself (no REGION_WRITE),
 * while other values go on as region writes. The real KVM_IOEVENTFD is {@link PassthroughDoorbellKvmTest}'s.
 */
class PassthroughDoorbellTest {

    static final PciDevFn AT = new PciDevFn(4, 0);
    static final long BAR0 = 0xfe00_0000L;
    static final long BAR0_MOVED = 0xfd00_0000L;

    @TempDir
    Path dir;
    ServedEdu served;
    VfioUserClient client;
    AddressSpace space;
    PciHostBridge bridge;
    InterruptRouter router;
    int devfn;

    @BeforeEach
    void start() throws Exception {
        served = new ServedEdu(dir);
        client = VfioUserClient.connect(served.socket, 5000, null);
        space = new AddressSpace();
        bridge = new PciHostBridge(space, PciHostBridge.DEFAULT_ECAM_BASE);
        router = new InterruptRouter(new VirtualInterruptController(1));
    }

    @AfterEach
    void stop() throws Exception {
        router.close();
        client.close();
        served.close();
    }

    private PassthroughDevice device(PassthroughOptions options) {
        PassthroughDevice d = new PassthroughDevice("edu", client, options, space, router);
        devfn = bridge.add(AT, false, d, "vfio-user-pci").devfn();
        return d;
    }

    private void placeBar0(long at) {
        bridge.configWrite(devfn, 0x10, 4, (int) at);
        bridge.configWrite(devfn, 0x04, 2, PCI_COMMAND_MEMORY);
    }

    private static long awaitSignal(EventFd fd) {
        assertNotEquals(0, Syscalls.poll(fd.fd(), POLLIN, 5000), fd + " was not signalled within 5 s");
        return fd.read();
    }

    @Test
    void theDoorbellFollowsBar0AndGoesWithDecodingAndAtClose() {
        IoEventFdRecorder kvm = new IoEventFdRecorder();
        space.addListener(kvm);
        PassthroughDevice d = device(PassthroughOptions.DEFAULT);
        placeBar0(BAR0);
        assertEquals(1, kvm.now.size(), "edu's doorbell, registered as BAR0 decodes");
        IoEventFd e = kvm.now.get(0);
        assertEquals(BAR0 + EduRegisters.MSIX_FIRE, e.address());
        assertEquals(4, e.size());
        assertTrue(e.datamatch());
        assertEquals(0, e.data());
        assertEquals(false, e.pio());
        assertEquals(client.ioEventFds(0).get(0).eventfd(), e.eventfd(), "the server's eventfd, handed on");
        assertEquals(List.of(e), d.doorbells());

        bridge.configWrite(devfn, 0x10, 4, (int) BAR0_MOVED); // the BAR reprogrammed with decoding on
        assertEquals(1, kvm.now.size());
        assertEquals(BAR0_MOVED + EduRegisters.MSIX_FIRE, kvm.now.get(0).address(), "re-registered where it went");
        assertEquals(1, kvm.removed, "the old one deassigned");

        bridge.configWrite(devfn, 0x04, 2, 0); // memory decoding off
        assertEquals(List.of(), kvm.now);
        assertEquals(List.of(), space.ioEventFds());
        bridge.configWrite(devfn, 0x04, 2, PCI_COMMAND_MEMORY);
        assertEquals(1, kvm.now.size());
        d.close();
        assertEquals(List.of(), kvm.now, "gone at close");
        assertEquals(kvm.added, kvm.removed);
    }

    @Test
    void xNoKvmIoeventfdPlacesNone() {
        IoEventFdRecorder kvm = new IoEventFdRecorder();
        space.addListener(kvm);
        PassthroughDevice d = device(PassthroughOptions.DEFAULT.withIoeventfds(true, false));
        placeBar0(BAR0);
        assertEquals(0, kvm.added);
        assertEquals(List.of(), d.doorbells());
        long before = client.regionRequests();
        space.write(BAR0 + EduRegisters.MSIX_FIRE, 4, 0);
        client.flushPostedWrites();
        assertEquals(before + 1, client.regionRequests(), "the doorbell write went as a REGION_WRITE");
        d.close();
    }

    @Test
    void withoutKvmTheTrappedWriteRingsTheDoorbellItself() {
        PassthroughDevice d = device(PassthroughOptions.DEFAULT);
        placeBar0(BAR0);
        assertEquals(1, space.ioEventFds().size(), "placed, taken by no listener");
        try (EventFd vector0 = new EventFd("msix 0")) {
            client.setIrqTriggers(VFIO_PCI_MSIX_IRQ_INDEX, 0, new EventFd[] {vector0});
            long before = client.regionRequests();
            space.write(BAR0 + EduRegisters.MSIX_FIRE, 4, 0);
            assertEquals(1, awaitSignal(vector0), "the doorbell reached edu, which fired vector 0");
            assertEquals(before, client.regionRequests(), "through the eventfd, not a REGION_WRITE");
            assertEquals(1, served.server.doorbellsRung());
            space.write(BAR0 + EduRegisters.MSIX_FIRE, 4, 1); // vector 1: no match, a region write
            client.flushPostedWrites();
            assertEquals(before + 1, client.regionRequests());
            client.disableIrq(VFIO_PCI_MSIX_IRQ_INDEX);
        }
        d.close();
    }
}
