package io.jvfio.vmm.linux;

import org.junit.jupiter.api.Test;

import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_READ;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_WRITE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * /proc/self/pagemap: entries decoded by the layout of pagemap.rst, and read for real. A locked page is
 * present; its frame number is nonzero to a process with CAP_SYS_ADMIN (root), and 0, with an error
 * that names the capability, to one without it: both are checked, whichever this process is.
 */
class PagemapTest {

    @Test
    void entriesAreDecodedAsPagemapRstLaysThemOut() {
        Pagemap.Entry present = new Pagemap.Entry(1L << 63 | 1L << 55 | 0x12345L); // soft-dirty, PFN 0x12345
        assertTrue(present.present());
        assertFalse(present.swapped());
        assertEquals(0x12345L, present.pfn());
        assertEquals(0x12345000L, present.physicalPage(0x7f00_0000_0000L, 4096));
        Pagemap.Entry widest = new Pagemap.Entry(1L << 63 | (1L << 55) - 1);
        assertEquals((1L << 55) - 1, widest.pfn());

        Pagemap.Entry swapped = new Pagemap.Entry(1L << 62 | 0x4242L);
        assertFalse(swapped.present());
        assertEquals(0, swapped.pfn(), "a swapped page's low bits are its swap entry, not a frame");
        assertTrue(assertThrows(IllegalStateException.class, () -> swapped.physicalPage(0x1000, 4096)).getMessage()
                .contains("is not in RAM (swapped out)"));
        assertTrue(assertThrows(IllegalStateException.class, () -> new Pagemap.Entry(0).physicalPage(0x1000, 4096))
                .getMessage().contains("is not in RAM (never touched)"));
        assertEquals("/proc/self/pagemap shows the page at 0x1000 present but with page frame number 0: the kernel "
                + "hides physical addresses from a process without CAP_SYS_ADMIN; run as root or with CAP_SYS_ADMIN",
                assertThrows(IllegalStateException.class, () -> new Pagemap.Entry(1L << 63).physicalPage(0x1000, 4096))
                        .getMessage());
    }

    @Test
    void aLockedPageIsPresentAndItsFrameIsShownToCapSysAdminOnly() {
        long page = Syscalls.pageSize();
        try (MemoryMapping m = MemoryMapping.anonymous(4 * page, PROT_READ | PROT_WRITE, "pagemap test");
             Pagemap pagemap = Pagemap.open()) {
            Syscalls.mlock(m.address(), 4 * page, m.name());
            try {
                long before = ProcessStatus.lockedBytes();
                assertTrue(before >= 4 * page, "VmLck " + before + " counts the locked pages");
                for (int i = 0; i < 4; i++) {
                    Pagemap.Entry e = pagemap.entry(m.address() + i * page + 123);
                    assertTrue(e.present(), "mlock faults every page in");
                    if (Capabilities.effective().has(Capabilities.CAP_SYS_ADMIN)) {
                        assertNotEquals(0, e.pfn(), "a locked page's frame, shown to CAP_SYS_ADMIN");
                        assertEquals(e.pfn() * page + 123, pagemap.physicalAddress(m.address() + i * page + 123));
                    } else {
                        assertEquals(0, e.pfn(), "the kernel hides frames from a process without CAP_SYS_ADMIN");
                        assertThrows(IllegalStateException.class, () -> pagemap.physicalAddress(m.address()));
                    }
                }
            } finally {
                Syscalls.munlock(m.address(), 4 * page, m.name());
            }
        }
    }

    @Test
    void aPageNeverTouchedIsNotPresent() {
        long page = Syscalls.pageSize();
        try (MemoryMapping m = MemoryMapping.anonymous(page, PROT_READ | PROT_WRITE, "untouched");
             Pagemap pagemap = Pagemap.open()) {
            assertFalse(pagemap.entry(m.address()).present());
            assertTrue(assertThrows(IllegalStateException.class, () -> pagemap.physicalAddress(m.address()))
                    .getMessage().contains("never touched"));
        }
    }
}
