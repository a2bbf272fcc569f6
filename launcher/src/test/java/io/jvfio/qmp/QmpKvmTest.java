package io.jvfio.qmp;

import io.jvfio.kvm.GuestCode;
import io.jvfio.kvm.LongModeProgram;
import io.jvfio.kvm.X86Register;
import io.jvfio.machine.VirtualMachine;
import io.jvfio.memory.GuestRam;
import io.jvfio.vmm.testing.OnKvm;
import io.jvfio.vmm.testing.Prerequisites;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@code stop} and {@code cont} over the monitor pause and resume a real guest on KVM: the guest counts in
 * RAM; after {@code stop} the count stands still and the vCPU's RIP is inside the loop, after {@code cont}
 * it moves on from where it stood (the vCPU re-entered KVM_RUN with its state).
 */
@OnKvm
@Timeout(300)
class QmpKvmTest {

    private static final long COUNTER = 0x60000;

    @TempDir
    Path dir;

    @Test
    void stopPausesTheGuestAndContResumesIt() throws Exception {
        Prerequisites.requireKvm();
        byte[] code = GuestCode.assemble("""
                1:  inc qword ptr [0x60000]
                    jmp 1b
                """);
        Path socket = dir.resolve("qmp.sock");
        try (VirtualMachine vm = VirtualMachine.builder().memory("64M").accelerator(VirtualMachine.Accelerator.KVM)
                .vcpus(1).build()) {
            LongModeProgram program = LongModeProgram.of(code, GuestCode.LOAD, 0x80000, 0x1000);
            GuestRam ram = vm.memory().ram();
            program.start(ram.slice(0, program.extent()), vm.vcpus());
            vm.vcpus().start(vm.space());
            awaitCountAbove(ram, 0);
            try (QmpMonitor monitor = QmpMonitor.open(vm, QmpChardev.parse("unix:" + socket + ",server=on,wait=off"),
                    "test", null, null);
                 QmpTestClient c = QmpTestClient.negotiated(socket)) {
                assertEquals("{\"return\":{}}", c.execute("{\"execute\":\"stop\"}").text());
                assertEquals("STOP", c.event().map().get("event"));
                assertEquals("{\"return\":{\"running\":false,\"status\":\"paused\"}}",
                        c.execute("{\"execute\":\"query-status\"}").text());
                long paused = ram.readU64(COUNTER);
                long rip = vm.vcpus().get(0).register(X86Register.RIP);
                assertTrue(rip >= GuestCode.LOAD && rip < GuestCode.LOAD + code.length, "RIP in the loop: 0x"
                        + Long.toHexString(rip));
                Thread.sleep(300); // the time the guest would count millions in
                assertEquals(paused, ram.readU64(COUNTER), "the paused guest's counter stands still");

                assertEquals("{\"return\":{}}", c.execute("{\"execute\":\"cont\"}").text());
                assertEquals("RESUME", c.event().map().get("event"));
                awaitCountAbove(ram, paused);
                assertTrue(ram.readU64(COUNTER) > paused, "counting on from where it stood");

                // system_reset: the devices reset, the vCPUs stopped meanwhile and running again after.
                assertEquals("{\"return\":{}}", c.execute("{\"execute\":\"system_reset\"}").text());
                assertEquals("RESET", c.event().map().get("event"));
                awaitCountAbove(ram, ram.readU64(COUNTER));
                assertTrue(vm.vcpus().running());
            }
        }
    }

    private static void awaitCountAbove(GuestRam ram, long value) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (ram.readU64(COUNTER) <= value) {
            if (System.nanoTime() > deadline) {
                fail("the guest's counter did not move past " + value + " within 30 s");
            }
            Thread.sleep(5);
        }
    }
}
