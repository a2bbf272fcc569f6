package io.jvfio.launcher;

import io.jvfio.vfio.user.VfioUserServer;
import io.jvfio.vfio.user.edu.EduDevice;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The command line, run in-process: exit status, stdout and stderr of each case. */
class MainTest {

    record Result(int status, String out, String err) {
    }

    static Result run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** Bad input: status 1, exactly one line on stderr, nothing on stdout. */
    static void assertRejected(String expectedLine, String... args) {
        Result r = run(args);
        assertEquals(1, r.status, r.toString());
        assertEquals("", r.out, "nothing on stdout");
        assertEquals(expectedLine + "\n", r.err);
    }

    @Test
    void theMisspelledPropertyOfTheIssue() {
        assertRejected("jvfio: -device vfio-pci,hots=1: Property 'vfio-pci.hots' not found "
                + "(did you mean 'host'? -device vfio-pci,help lists them)", "-device", "vfio-pci,hots=1");
    }

    @Test
    void deviceHelpListsTheDrivers() {
        Result r = run("-device", "help");
        assertEquals(0, r.status);
        assertEquals("""
                Misc devices:
                name "vfio-pci", bus PCI, desc "VFIO-based PCI device assignment"
                name "vfio-user-pci", bus PCI, desc "vfio-user PCI device assignment over a UNIX socket"
                """, r.out);
        assertEquals("", r.err);
    }

    @Test
    void driverHelpListsItsProperties() {
        Result r = run("-device", "vfio-pci,help");
        assertEquals(0, r.status);
        assertTrue(r.out.startsWith("vfio-pci options:\n"), r.out);
        for (String p : new String[] {"host=<pci-host-address>", "sysfsdev=<str>", "addr=<pci-devfn>",
                "multifunction=<bool>", "x-no-mmap=<bool>", "rombar=<uint32>", "x-pci-vendor-id=<uint16>",
                "x-pci-class-code=<uint32>"}) {
            assertTrue(r.out.contains("\n  " + p), p + " missing from\n" + r.out);
        }
        assertTrue(run("--device", "vfio-user-pci,help").out.contains("x-msg-timeout=<int>"));
    }

    @Test
    void badOptionsAndValues() {
        assertRejected("jvfio: -foo: invalid option (jvfio --help lists the options)", "-foo");
        assertRejected("jvfio: unexpected argument 'disk.img': options start with '-' (jvfio --help lists them)",
                "disk.img");
        assertRejected("jvfio: -device: requires an argument (jvfio --help shows its form)", "-device");
        assertRejected("jvfio: -m 12Q: Parameter 'size' expects a size: a number with an optional suffix B, K, M, "
                + "G or T (e.g. 512M)", "-m", "12Q");
        assertRejected("jvfio: -m 512K: Parameter 'size' expects at least 1M of guest RAM", "-m", "512K");
        assertRejected("jvfio: -m 1025K: Parameter 'size' expects a multiple of the page size (4096 bytes)",
                "-m", "1025K");
        assertRejected("jvfio: -m 64M,slots=2: Invalid parameter 'slots' (valid: size)", "-m", "64M,slots=2");
        assertRejected("jvfio: -accel tcg: Parameter 'accel' does not accept value 'tcg' (use kvm or none)",
                "-accel", "tcg");
        assertRejected("jvfio: -name guest=: Parameter 'guest' expects a non-empty name", "-name", "guest=");
        assertRejected("jvfio: -m is given twice; give it once", "-m", "64M", "-m", "128M");
        assertRejected("jvfio: -device e1000: 'e1000' is not a valid device model name (-device help lists them)",
                "-device", "e1000");
        assertRejected("jvfio: -device vfio-pci,host=01:00.0,addr=40.0: Parameter 'addr' expects a PCI "
                        + "slot.function (e.g. addr=04.0: slot 00-1f, function 0-7, in hex)",
                "-device", "vfio-pci,host=01:00.0,addr=40.0");
        assertRejected("jvfio: -device vfio-user-pci,id=a,socket=/s: Duplicate ID 'a' for device",
                "-device", "vfio-pci,id=a,host=01:00.0", "-device", "vfio-user-pci,id=a,socket=/s");
    }

    @Test
    void guestRamFromAMemoryBackendObject() {
        Result r = run("-accel", "none", "-object", "memory-backend-memfd,id=ram0,size=3200M",
                "-machine", "memory-backend=ram0");
        assertEquals(Main.EXIT_NOT_AVAILABLE, r.status, r.err);
        assertEquals("""
                machine: pc, 3200 MiB of RAM, accel none
                memory: 'ram-below-4g' [0x0-0xbfffffff] <- 'ram0' (3200M, memfd)
                memory: 'ram-above-4g' [0x100000000-0x107ffffff] <- 'ram0' (3200M, memfd) at offset 0xc0000000
                pci: 00:00.0 Host bridge [0600]: Device [8086:1237] (rev 02)
                """, r.out);
        assertEquals(Main.EXIT_NOT_AVAILABLE, run("-accel", "none", "-m", "1G", "-object",
                "memory-backend-memfd,id=r,size=1G", "-M", "pc,memory-backend=r").status);
    }

    @Test
    void memoryBackendMistakes() {
        assertRejected("jvfio: -object memory-backend-memfd,id=a,size=1G,sise=2: Property 'memory-backend-memfd.sise' "
                + "not found (did you mean 'size'? -device memory-backend-memfd,help lists them)",
                "-object", "memory-backend-memfd,id=a,size=1G,sise=2");
        assertRejected("jvfio: -machine memory-backend=ram0: there is no memory backend 'ram0'; create it with -object "
                + "memory-backend-memfd,id=ram0,size=SIZE", "-machine", "memory-backend=ram0");
        assertRejected("jvfio: -m 256M does not match the size of memory backend 'r' (512M); drop -m or make them equal",
                "-m", "256M", "-object", "memory-backend-memfd,id=r,size=512M", "-machine", "memory-backend=r");
        assertRejected("jvfio: -object memory-backend-memfd,id=r,size=1G: memory backend 'r' is not used; give it to "
                + "the machine with -machine memory-backend=r", "-object", "memory-backend-memfd,id=r,size=1G");
        assertRejected("jvfio: -object memory-backend-memfd,id=r,size=1G: Duplicate ID 'r' for object",
                "-object", "memory-backend-memfd,id=r,size=1G", "-object", "memory-backend-memfd,id=r,size=1G");
        assertRejected("jvfio: -machine q35: Parameter 'type' does not accept value 'q35' (use pc)", "-machine", "q35");
        assertRejected("jvfio: memory-backend-memfd 'r': size 1M is not a multiple of the huge page size (2M)",
                "-accel", "none", "-object", "memory-backend-memfd,id=r,size=1M,hugetlb=on",
                "-machine", "memory-backend=r");
    }

    @Test
    void theIommuGroupDiagnosticExplainsAMachineWithoutAnIommu() {
        // This machine's kernel has no IOMMU (see shared/nested/README.md); the nested test runs the same
        // report against a kernel that has one.
        Result r = run("--iommu-groups");
        assertEquals(0, r.status);
        if (!java.nio.file.Files.isDirectory(java.nio.file.Path.of("/sys/kernel/iommu_groups/0"))) {
            assertTrue(r.out.startsWith("No IOMMU groups: /sys/kernel/iommu_groups is empty."), r.out);
        }
    }

    @Test
    void vfioBindNamesWhatIsWrong() {
        assertRejected("jvfio: --vfio-bind 01:00: expects a PCI host address [DDDD:]BB:DD.F, as lspci -D prints it",
                "--vfio-bind", "01:00");
        assertRejected("jvfio: --vfio-bind: requires an argument (a host PCI address, e.g. 0000:01:00.0)",
                "--vfio-bind");
    }

    @Test
    void helpAndVersionGoToStdout() {
        Result help = run("--help");
        assertEquals(0, help.status);
        assertTrue(help.out.startsWith("Usage: jvfio [options]"), help.out);
        assertEquals(help.out, run("-h").out);
        Result version = run("--version");
        assertEquals(0, version.status);
        assertTrue(version.out.startsWith("jvfio version 0.1.0"), version.out);
        assertTrue(version.out.contains("Netty 4.2.18.Final"), version.out);
        assertEquals("Accelerators supported in jvfio:\nkvm\nnone\n", run("-accel", "help").out);
    }

    @Test
    void theMachineIsAssembledItsPciBusShownAndNothingPretendsToRun(@TempDir Path dir) {
        Path s1 = dir.resolve("edu1.sock");
        Path s2 = dir.resolve("edu2.sock");
        try (EduDevice edu1 = new EduDevice(); VfioUserServer server1 = VfioUserServer.start(s1, edu1);
             EduDevice edu2 = new EduDevice(); VfioUserServer server2 = VfioUserServer.start(s2, edu2)) {
            Result r = run("-m", "512", "-accel", "none", "-name", "web",
                    "-device", "vfio-user-pci,id=nic,socket=" + s1 + ",addr=04.0,x-pci-vendor-id=0x1af4",
                    "-device", "vfio-user-pci,socket=" + s2 + ",x-no-mmap=on");
            assertEquals(Main.EXIT_NOT_AVAILABLE, r.status, r.err);
            assertEquals("""
                    machine: pc, 512 MiB of RAM, accel none, name "web"
                    memory: 'ram-below-4g' [0x0-0x1fffffff] <- 'pc.ram' (512M, memfd)
                    device: vfio-user-pci,id=nic,socket=%s,addr=04.0,x-pci-vendor-id=6900 -> 00:04.0 over vfio-user: \
                    BAR0 1M, BAR1 4K, BAR2 1M mmap, CONFIG 256B; INTx, MSI, MSI-X x8; guest RAM offered for DMA in 1 window
                    device: vfio-user-pci,socket=%s,x-no-mmap=on -> 00:01.0 over vfio-user: BAR0 1M, BAR1 4K, BAR2 1M, \
                    CONFIG 256B; INTx, MSI, MSI-X x8; guest RAM offered for DMA in 1 window
                    pci: 00:00.0 Host bridge [0600]: Device [8086:1237] (rev 02)
                    pci: 00:01.0 Unclassified device [00ff]: Device [1234:11e8] (rev 10)
                    pci: 00:04.0 Unclassified device [00ff]: Device [1af4:11e8] (rev 10)
                    """.formatted(s1, s2), r.out);
            assertEquals("jvfio: the machine is assembled, but this build cannot run a VM yet: the KVM back end (the vCPU "
                    + "loop) is still to come; nothing was run\n", r.err);
            assertEquals(1, server1.clientsServed());
            assertEquals(1, server2.clientsServed());
        }
    }

    @Test
    void aDeviceThatCannotBePlacedOrFoundIsOneClearLine(@TempDir Path dir) {
        Path s1 = dir.resolve("edu1.sock");
        Path s2 = dir.resolve("edu2.sock");
        try (EduDevice edu1 = new EduDevice(); VfioUserServer server1 = VfioUserServer.start(s1, edu1);
             EduDevice edu2 = new EduDevice(); VfioUserServer server2 = VfioUserServer.start(s2, edu2)) {
            Result r = run("-accel", "none", "-device", "vfio-user-pci,socket=" + s1 + ",addr=04.0",
                    "-device", "vfio-user-pci,socket=" + s2 + ",addr=04.0");
            assertEquals(1, r.status);
            assertEquals("jvfio: -device vfio-user-pci,socket=" + s2 + ",addr=04.0: PCI: slot 4 function 0 not "
                    + "available for vfio-user-pci, in use by vfio-user-pci\n", r.err);
        }
        Result absent = run("-accel", "none", "-device", "vfio-pci,host=0000:ff:1f.7");
        assertEquals(1, absent.status);
        assertEquals("jvfio: -device vfio-pci,host=0000:ff:1f.7: there is no PCI device 0000:ff:1f.7 on this host "
                + "(lspci -D lists them)\n", absent.err);
    }

    @Test
    void aVfioUserSocketWithNoServerIsOneClearLine(@TempDir Path dir) {
        Path socket = dir.resolve("none.sock");
        Result r = run("-accel", "none", "-device", "vfio-user-pci,socket=" + socket + ",x-msg-timeout=100");
        assertEquals(1, r.status);
        assertEquals("jvfio: -device vfio-user-pci,socket=" + socket + ",x-msg-timeout=100: cannot connect to the "
                + "vfio-user server at " + socket + ": No such file or directory (ENOENT) - start the server first "
                + "(e.g. ./jvfio --serve edu,socket=" + socket + ") or fix socket=\n", r.err);
    }

    @Test
    void serveNamesWhatIsWrong(@TempDir Path dir) throws Exception {
        assertRejected("jvfio: --serve: requires an argument, e.g. --serve edu,socket=/tmp/edu.sock", "--serve");
        assertRejected("jvfio: --serve edu: Parameter 'socket' is missing: give the path to listen on, e.g. "
                + "socket=/tmp/edu.sock", "--serve", "edu");
        assertRejected("jvfio: --serve nvme,socket=/tmp/x: Parameter 'device' does not accept value 'nvme' (use edu)",
                "--serve", "nvme,socket=/tmp/x");
        assertRejected("jvfio: --serve runs a vfio-user device server and takes no other options; start the VM in "
                + "another jvfio with -device vfio-user-pci,socket=PATH", "--serve", "edu,socket=/tmp/x", "-m", "64M");
        Path socket = dir.resolve("busy.sock");
        try (EduDevice edu = new EduDevice(); VfioUserServer server = VfioUserServer.start(socket, edu)) {
            assertRejected("jvfio: --serve edu,socket=" + socket + ": bind on " + socket + " (another server is "
                    + "listening on it): Address already in use (EADDRINUSE)", "--serve", "edu,socket=" + socket);
        }
        Result help = run("--serve", "help");
        assertEquals(0, help.status);
        assertTrue(help.out.contains("name \"edu\""), help.out);
    }

    @Test
    void accelKvmIsCheckedAgainstTheRealDevice() {
        assumeTrue(Files.isWritable(Path.of("/dev/kvm")), "/dev/kvm is not usable here");
        Result r = run("-accel", "kvm");
        assertEquals(Main.EXIT_NOT_AVAILABLE, r.status, r.toString());
        assertTrue(r.out.startsWith("machine: pc, 64 MiB of RAM, accel kvm\n"), r.out);
        assertTrue(run().out.startsWith("machine: pc, 64 MiB of RAM, accel kvm (chosen by availability)"));
    }
}
