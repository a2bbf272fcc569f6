package io.jvfio.vfio.emulated.host;

import io.jvfio.vfio.VfioIrq;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.Syscalls;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.jvfio.vmm.linux.vfio.VfioConstants.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A served device's INTx as the kernel's vfio-pci keeps it: automasked on assertion, unmasked by
 * SET_IRQS UNMASK (DATA_NONE, as QEMU 11's client sends at each EOI without KVM) or by a signal of the
 * unmask eventfd given with UNMASK|DATA_EVENTFD (as QEMU 11's client does on KVM, with KVM's resample
 * eventfd), and delivered again at unmask while still asserted. Real eventfds.
 */
class DeviceIrqsIntxTest {

    private static final int INTX = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;

    private final DeviceIrqs irqs = new DeviceIrqs("test", false, List.of(new VfioIrq(VFIO_PCI_INTX_IRQ_INDEX, INTX, 1)));

    private void give(int action, EventFd fd) {
        irqs.apply(VFIO_IRQ_SET_DATA_EVENTFD | action, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, null,
                new OwnedFd[] {Syscalls.dup(fd.fd())});
    }

    private static long awaitSignal(EventFd fd) throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        long n;
        while ((n = fd.read()) == 0) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not signalled within 5 s: " + fd);
            }
            Thread.sleep(1);
        }
        return n;
    }

    @Test
    void anAssertionMasksTheLineUntilUnmaskedAndAStillAssertedLineComesAgain() {
        try (EventFd trigger = new EventFd("intx")) {
            give(VFIO_IRQ_SET_ACTION_TRIGGER, trigger);
            irqs.raise(VFIO_PCI_INTX_IRQ_INDEX, 0);
            assertEquals(1, trigger.read(), "asserted: signalled");
            irqs.raise(VFIO_PCI_INTX_IRQ_INDEX, 0);
            assertEquals(0, trigger.read(), "masked until unmasked: no second signal");
            irqs.apply(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, null,
                    new OwnedFd[0]);
            assertEquals(1, trigger.read(), "unmasked while still asserted: signalled again");
            irqs.lower(VFIO_PCI_INTX_IRQ_INDEX, 0);
            irqs.apply(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, null,
                    new OwnedFd[0]);
            assertEquals(0, trigger.read(), "deasserted before the unmask: nothing");
            irqs.raise(VFIO_PCI_INTX_IRQ_INDEX, 0);
            assertEquals(1, trigger.read(), "unmasked: the next assertion is signalled");
            irqs.clear();
        }
    }

    @Test
    void theUnmaskEventfdIsTheClientsToSignal() throws Exception {
        try (EventFd trigger = new EventFd("intx"); EventFd unmask = new EventFd("intx unmask")) {
            give(VFIO_IRQ_SET_ACTION_TRIGGER, trigger);
            give(VFIO_IRQ_SET_ACTION_UNMASK, unmask);
            assertTrue(irqs.watching(), "the server listens to the unmask eventfd");
            for (int i = 0; i < 10; i++) {
                irqs.raise(VFIO_PCI_INTX_IRQ_INDEX, 0);
                assertEquals(1, awaitSignal(trigger), "interrupt " + i);
                irqs.raise(VFIO_PCI_INTX_IRQ_INDEX, 0); // asserted again before the EOI: merged
                assertEquals(0, trigger.read());
                irqs.lower(VFIO_PCI_INTX_IRQ_INDEX, 0); // the guest's handler acknowledged the device
                unmask.signal(); // the EOI (KVM's resampler)
                long deadline = System.nanoTime() + 5_000_000_000L;
                while (!irqsUnmasked() && System.nanoTime() < deadline) {
                    Thread.sleep(1);
                }
                assertEquals(0, trigger.read(), "deasserted at the EOI: no signal");
            }
            irqs.raise(VFIO_PCI_INTX_IRQ_INDEX, 0);
            assertEquals(1, awaitSignal(trigger), "the first");
            unmask.signal(); // an EOI while the device still asserts: delivered again
            assertEquals(1, awaitSignal(trigger), "and again, after the unmask");
            irqs.clear();
            assertFalse(irqs.watching(), "no thread is left once the client's eventfds are gone");
            assertEquals(0, irqs.assigned());
        }
    }

    /** The watcher's thread allocates nothing per unmask (its wake-ups index an array of actions). */
    @Test
    void anUnmaskThroughTheEventfdAllocatesNothingOnTheWatchersThread() throws Exception {
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        try (EventFd trigger = new EventFd("intx"); EventFd unmask = new EventFd("intx unmask")) {
            give(VFIO_IRQ_SET_ACTION_TRIGGER, trigger);
            give(VFIO_IRQ_SET_ACTION_UNMASK, unmask);
            cycles(trigger, unmask, 5_000);
            long id = Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals("vfio-user-unmask"))
                    .mapToLong(Thread::getId).findFirst().orElseThrow();
            // The smallest of three rounds: a path the JIT recompiles allocates for a while, once.
            long allocated = Long.MAX_VALUE;
            for (int round = 0; round < 3; round++) {
                long before = threads.getThreadAllocatedBytes(id);
                cycles(trigger, unmask, 10_000);
                allocated = Math.min(allocated, threads.getThreadAllocatedBytes(id) - before);
            }
            assertTrue(allocated < 4096, allocated + " bytes over 10000 unmasks");
            irqs.clear();
        }
    }

    /** Assert (trigger signalled, line masked), lower, unmask through the eventfd: n times. */
    private void cycles(EventFd trigger, EventFd unmask, int n) throws InterruptedException {
        for (int i = 0; i < n; i++) {
            irqs.raise(VFIO_PCI_INTX_IRQ_INDEX, 0);
            if (trigger.read() != 1) {
                throw new AssertionError("assertion " + i + " was not signalled");
            }
            irqs.lower(VFIO_PCI_INTX_IRQ_INDEX, 0);
            unmask.signal();
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (irqs.masked(VFIO_PCI_INTX_IRQ_INDEX, 0)) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("unmask " + i + " not heard");
                }
                Thread.yield();
            }
        }
    }

    private boolean irqsUnmasked() {
        return !irqs.masked(VFIO_PCI_INTX_IRQ_INDEX, 0);
    }
}
