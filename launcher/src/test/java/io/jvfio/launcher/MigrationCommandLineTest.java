package io.jvfio.launcher;

import io.jvfio.vmm.device.DeviceRegistry;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code -incoming} on the command line: its forms, its errors in QEMU's words, its help. */
class MigrationCommandLineTest {

    private static CommandLine.Command parse(String... args) throws UsageException {
        return new CommandLine(DeviceRegistry.load()).parse(args);
    }

    private static MachineConfig config(String... args) throws UsageException {
        return ((CommandLine.Launch) parse(args)).config();
    }

    @Test
    void incomingForms() throws UsageException {
        assertNull(config("-accel", "none").incoming());
        assertEquals("unix:/tmp/m.sock", config("-accel", "none", "-incoming", "unix:/tmp/m.sock").incoming());
        assertEquals("file:/tmp/vm.mig", config("-accel", "none", "-incoming", "file:/tmp/vm.mig").incoming());
        assertEquals("defer", config("-accel", "none", "-incoming", "defer").incoming());
    }

    @Test
    void incomingErrors() {
        assertEquals("-incoming nowhere: unknown migration protocol: nowhere (give unix:PATH or file:PATH)",
                assertThrows(UsageException.class, () -> parse("-accel", "none", "-incoming", "nowhere")).getMessage());
        assertEquals("-incoming tcp:0:4444: 'tcp:0:4444': jvfio migrates over unix:PATH or file:PATH; QEMU's tcp: "
                + "transport is not in jvfio", assertThrows(UsageException.class,
                        () -> parse("-accel", "none", "-incoming", "tcp:0:4444")).getMessage());
        assertTrue(assertThrows(UsageException.class, () -> parse("-accel", "none", "-incoming", "defer", "-incoming",
                "defer")).getMessage().startsWith("-incoming"));
        assertTrue(assertThrows(UsageException.class, () -> parse("-incoming")).getMessage()
                .startsWith("-incoming: requires an argument"));
    }

    @Test
    void help() throws UsageException {
        String help = ((CommandLine.ShowText) parse("--help")).text();
        assertTrue(help.contains("-incoming unix:PATH | -incoming file:PATH | -incoming defer"), help);
    }
}
