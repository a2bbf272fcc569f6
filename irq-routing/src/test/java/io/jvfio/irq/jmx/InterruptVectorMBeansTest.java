package io.jvfio.irq.jmx;

import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.MsiMessage;
import io.jvfio.irq.RouteKind;
import io.jvfio.irq.VirtualInterruptController;
import io.jvfio.vmm.linux.EventFd;
import org.junit.jupiter.api.Test;

import javax.management.MBeanServer;
import javax.management.MBeanServerFactory;
import javax.management.ObjectName;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The MBeans follow the routing table, in an MBean server of the test's own: a route registered when it
 * is added (or once it can be named), a vector's route made again taking its name over, a route removed
 * unregistered, and nothing left at close.
 */
class InterruptVectorMBeansTest {

    @Test
    void theMBeansFollowTheRoutingTable() throws Exception {
        MBeanServer server = MBeanServerFactory.newMBeanServer();
        VirtualInterruptController apics = new VirtualInterruptController(1);
        boolean[] known = {false};
        try (InterruptRouter router = new InterruptRouter(apics); EventFd a = new EventFd("a");
             EventFd b = new EventFd("b")) {
            InterruptRoute early = router.addMsi("dev MSI-X 0", RouteKind.MSIX, a, MsiMessage.fixed(0, 0x41), false);
            InterruptVectorMBeans mbeans = InterruptVectorMBeans.register(server, router, "vm\"1", r ->
                    known[0] ? new InterruptVectorMBeans.Source("dev0", Integer.parseInt(r.name().substring(10)))
                            : null);
            assertEquals(Set.of(), mbeans.names(), "the device is not known yet: the route waits");
            known[0] = true;
            mbeans.retry();
            ObjectName v0 = InterruptVectorMBeans.name("vm\"1", "dev0", RouteKind.MSIX, 0);
            assertEquals(new ObjectName("io.jvfio:type=InterruptVector,vm=\"vm\\\"1\",device=dev0,kind=msix,vector=0"),
                    v0, "a value with a reserved character is quoted");
            assertTrue(server.isRegistered(v0));
            a.signal();
            long deadline = System.nanoTime() + 5_000_000_000L;
            while ((Long) server.getAttribute(v0, "Delivered") < 1) { // the poller delivers it
                assertTrue(System.nanoTime() < deadline, "not delivered within 5 s");
                java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
            }
            assertEquals("ring", server.getAttribute(v0, "Path"));
            assertEquals("dev MSI-X 0", server.getAttribute(v0, "Route"));

            // The vector's route made again before the old one goes: the name follows the new route, and the
            // old one's removal leaves it.
            InterruptRoute again = router.addMsi("dev MSI-X 0", RouteKind.MSIX, b, MsiMessage.fixed(0, 0x41), false);
            assertEquals(0L, server.getAttribute(v0, "Delivered"));
            router.remove(early);
            assertTrue(server.isRegistered(v0));
            router.remove(again);
            assertFalse(server.isRegistered(v0));

            router.addMsi("dev MSI-X 3", RouteKind.MSIX, a, MsiMessage.fixed(0, 0x42), true);
            ObjectName v3 = InterruptVectorMBeans.name("vm\"1", "dev0", RouteKind.MSIX, 3);
            assertTrue(server.isRegistered(v3));
            assertEquals(true, server.getAttribute(v3, "Masked"));
            mbeans.close();
            assertEquals(Set.of(), server.queryNames(JmxNames.pattern(), null));
            router.addMsi("dev MSI-X 4", RouteKind.MSIX, b, MsiMessage.fixed(0, 0x43), false);
            assertEquals(Set.of(), server.queryNames(JmxNames.pattern(), null), "a closed one registers no more");
        }
    }
}
