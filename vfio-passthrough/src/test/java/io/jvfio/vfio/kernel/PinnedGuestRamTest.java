package io.jvfio.vfio.kernel;

import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.linux.Capabilities;
import io.jvfio.vmm.linux.Pagemap;
import io.jvfio.vmm.linux.ProcessStatus;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Guest RAM for a no-IOMMU device, on this machine's real memory: locked while it is guest RAM, and
 * addressed by the host physical addresses /proc/self/pagemap gives, a range across physically
 * discontiguous pages refused. Reading frame numbers needs CAP_SYS_ADMIN: without it, the refusal that
 * names it is what is checked.
 */
class PinnedGuestRamTest {

    private static final long PAGE = 4096;
    private static final long RAM = 1L << 20;
    private static final long BASE = 0x100000;

    @Test
    void guestRamIsLockedAndAddressedPhysically() {
        if (!Capabilities.effective().has(Capabilities.CAP_SYS_ADMIN)) {
            try (GuestMemory memory = new GuestMemory()) {
                assertEquals("VFIO no-IOMMU mode needs the host physical addresses of guest RAM from /proc/self/pagemap, "
                        + "and the kernel shows them only to a process with CAP_SYS_ADMIN (to others every page frame "
                        + "number reads 0); run jvfio as root or with CAP_SYS_ADMIN",
                        assertThrows(VfioException.class, () -> PinnedGuestRam.of(memory)).getMessage());
            }
            return;
        }
        try (GuestMemory memory = new GuestMemory(); PinnedGuestRam pinned = PinnedGuestRam.of(memory);
             Pagemap pagemap = Pagemap.open()) {
            memory.addRegion("ram", BASE, MemoryBackend.memfd("ram", RAM, false));
            long before = ProcessStatus.lockedBytes();
            memory.addListener(pinned);
            assertTrue(ProcessStatus.lockedBytes() >= before + RAM, "the region is locked: VmLck " + before + " -> "
                    + ProcessStatus.lockedBytes());

            long host = memory.ram().hostAddress(BASE, RAM);
            // Within a page: the page's frame plus the offset, as pagemap has it.
            long dma = pinned.dmaAddress(BASE + 0x1010, 256);
            assertEquals(pagemap.physicalAddress(host + 0x1010), dma);
            assertNotEquals(BASE + 0x1010, dma);

            // Across a page boundary: accepted where the two frames are adjacent, refused where they are not.
            int contiguous = 0;
            int refused = 0;
            for (long off = 0; off + 2 * PAGE <= RAM; off += PAGE) {
                long a = pagemap.physicalAddress(host + off);
                long b = pagemap.physicalAddress(host + off + PAGE);
                if (b == a + PAGE) {
                    assertEquals(a + 0x800, pinned.dmaAddress(BASE + off + 0x800, PAGE));
                    contiguous++;
                } else {
                    long at = BASE + off + 0x800;
                    String e = assertThrows(VfioException.class, () -> pinned.dmaAddress(at, PAGE)).getMessage();
                    assertTrue(e.startsWith(String.format("guest range 0x%x+0x1000 is not physically contiguous (host page "
                            + "0x%x is at physical 0x%x, page 0x%x at 0x%x, not 0x%x): without an IOMMU", at, host + off,
                            a, host + off + PAGE, b, a + PAGE)), e);
                    refused++;
                }
            }
            assertEquals(RAM / PAGE - 1, contiguous + refused);

            assertTrue(assertThrows(RuntimeException.class, () -> pinned.dmaAddress(BASE + RAM, 16)).getMessage()
                    .contains("is not in guest RAM"));
            assertEquals("IOVA = host physical address (no IOMMU; guest RAM locked, addresses from /proc/self/pagemap)",
                    pinned.describe());

            memory.removeListener(pinned);
            assertTrue(ProcessStatus.lockedBytes() <= before, "unlocked again: VmLck " + ProcessStatus.lockedBytes());
        }
    }
}
