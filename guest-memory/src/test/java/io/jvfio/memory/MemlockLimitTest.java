package io.jvfio.memory;

import io.jvfio.vmm.linux.ResourceLimit;
import io.jvfio.vmm.testing.Prerequisites;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The RLIMIT_MEMLOCK check that comes before VFIO pins guest RAM. */
class MemlockLimitTest {

    private static final long MIB = 1L << 20;

    @Test
    void theDecisionAndItsMessage() {
        ResourceLimit eightMib = new ResourceLimit("RLIMIT_MEMLOCK", 8 * MIB, 8 * MIB);
        GuestMemoryException e = assertThrows(GuestMemoryException.class,
                () -> MemlockLimit.check(512 * MIB, "VFIO DMA", eightMib, 0, false));
        assertEquals("cannot pin 512M of guest RAM for VFIO DMA: RLIMIT_MEMLOCK allows 8M (hard limit 8M); raise it "
                + "(ulimit -l 524288 in the shell that starts jvfio, or LimitMEMLOCK= in its systemd unit) or run jvfio "
                + "with CAP_IPC_LOCK", e.getMessage());
        assertDoesNotThrow(() -> MemlockLimit.check(512 * MIB, "VFIO DMA", eightMib, 0, true), "CAP_IPC_LOCK");
        assertDoesNotThrow(() -> MemlockLimit.check(8 * MIB, "VFIO DMA", eightMib, 0, false), "fits exactly");
        assertThrows(GuestMemoryException.class, () -> MemlockLimit.check(6 * MIB, "x", eightMib, 4 * MIB, false),
                "what is locked already counts");
        assertDoesNotThrow(() -> MemlockLimit.check(1L << 40, "x",
                new ResourceLimit("RLIMIT_MEMLOCK", ResourceLimit.UNLIMITED, ResourceLimit.UNLIMITED), 0, false));
    }

    /** Run by the test below in a process without CAP_IPC_LOCK and with a 1 MiB limit. */
    public static void main(String[] args) {
        try {
            MemlockLimit.requirePinnable(Long.parseLong(args[0]), "VFIO DMA");
            System.out.println("allowed");
        } catch (GuestMemoryException e) {
            System.out.println(e.getMessage());
        }
    }

    /**
     * Makes a machine without util-linux's setpriv and prlimit fail the test below instead of skipping
     * it. util-linux is essential on Debian and Ubuntu and scripts/install-prerequisites --tests checks
     * for both, so ./run-tests requires it.
     */
    static final String SETPRIV = "jvfio.setpriv";

    @Test
    void theRealLimitAndCapabilitiesOfAProcessAreRead() throws Exception {
        // Only a process that has CAP_IPC_LOCK (root) needs setpriv to start one without it; any other
        // process's children lack it already, and setpriv could not drop a bounding-set capability there.
        boolean dropCapability = MemlockLimit.hasCapIpcLock();
        List<String> tools = dropCapability ? List.of("/usr/bin/setpriv", "/usr/bin/prlimit") : List.of("/usr/bin/prlimit");
        for (String tool : tools) {
            if (!Files.isExecutable(Path.of(tool))) {
                throw Prerequisites.missing(SETPRIV, tool + " (util-linux) is needed to start a process without"
                        + " CAP_IPC_LOCK and with a 1 MiB RLIMIT_MEMLOCK: install util-linux");
            }
        }
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = System.getProperty("java.class.path");
        List<String> cmd = new java.util.ArrayList<>();
        if (dropCapability) {
            cmd.addAll(List.of("/usr/bin/setpriv", "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock"));
        }
        cmd.addAll(List.of("/usr/bin/prlimit", "--memlock=" + MIB + ":" + MIB,
                java, "-cp", cp, MemlockLimitTest.class.getName(), Long.toString(64 * MIB)));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        if (p.exitValue() != 0 && out.contains("setpriv")) {
            throw Prerequisites.missing(SETPRIV, "setpriv could not drop CAP_IPC_LOCK (a container without"
                    + " CAP_SETPCAP?): " + out);
        }
        assertTrue(out.startsWith("cannot pin 64M of guest RAM for VFIO DMA: RLIMIT_MEMLOCK allows 1M (hard limit 1M)"),
                out);
        assertTrue(out.contains("ulimit -l 65536"), out);
    }
}
