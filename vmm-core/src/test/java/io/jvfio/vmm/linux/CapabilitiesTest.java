package io.jvfio.vmm.linux;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Capability masks as /proc/PID/status shows them, and this process's own. */
class CapabilitiesTest {

    @Test
    void aMaskIsReadBitByBit() {
        Capabilities root = Capabilities.parse("000001ffffffffff"); // Linux 6.x, every capability
        assertTrue(root.has(Capabilities.CAP_IPC_LOCK));
        assertTrue(root.has(Capabilities.CAP_SYS_RAWIO));
        assertTrue(root.has(Capabilities.CAP_SYS_ADMIN));
        assertTrue(root.has(40));
        assertFalse(root.has(41));
        // CAP_SYS_RAWIO (17) dropped: 0x20000 off.
        Capabilities noRawio = Capabilities.parse("000001fffffdffff");
        assertFalse(noRawio.has(Capabilities.CAP_SYS_RAWIO));
        assertTrue(noRawio.has(Capabilities.CAP_SYS_ADMIN));
        Capabilities none = Capabilities.parse("0000000000000000");
        assertFalse(none.has(Capabilities.CAP_SYS_ADMIN));
        assertEquals("000001fffffdffff", noRawio.toString());
        assertEquals("CAP_SYS_RAWIO", Capabilities.name(17));
        assertEquals("CAP_SYS_ADMIN", Capabilities.name(21));
        assertEquals("capability 5", Capabilities.name(5));
    }

    @Test
    void aBadMaskIsOneClearError() {
        assertEquals("'xyz' is not a capability mask (up to 16 hexadecimal digits)",
                assertThrows(IllegalArgumentException.class, () -> Capabilities.parse("xyz")).getMessage());
        assertThrows(IllegalArgumentException.class, () -> Capabilities.parse("00000000000000000"));
        assertThrows(IllegalArgumentException.class, () -> Capabilities.parse(""));
        assertThrows(IllegalArgumentException.class, () -> Capabilities.parse("-1"));
        assertThrows(IllegalArgumentException.class, () -> Capabilities.parse("0").has(64));
    }

    @Test
    void thisProcessesEffectiveSetIsItsCapEff() throws Exception {
        String status = Files.readString(Path.of("/proc/self/status"));
        String line = status.lines().filter(l -> l.startsWith("CapEff:")).findFirst().orElseThrow();
        assertEquals(Long.parseUnsignedLong(line.substring(7).trim(), 16), Capabilities.effective().mask());
        assertEquals(line.substring(7).trim(), ProcessStatus.field("CapEff"));
        assertEquals(null, ProcessStatus.field("NoSuchField"));
        assertEquals("1 kB", ProcessStatus.field("Name:\tjava\nVmLck:\t     1 kB\n", "VmLck"));
    }
}
