package io.jvfio.launcher;

import io.jvfio.vmm.testing.OnKvm;
import io.jvfio.vmm.testing.Prerequisites;

import io.jvfio.vfio.user.Fds;
import io.jvfio.vfio.user.server.VfioUserServer;
import io.jvfio.vfio.devices.EduDevice;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The command line, run in-process: exit status, stdout and stderr of each case. */
@OnKvm
class MainTest {

    record Result(int status, String out, String err) {
    }

    static Result run(String... args) {
        MainRunner.Result r = MainRunner.run(args);
        return new Result(r.status(), r.out(), r.err());
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
                Controller/Bridge/Hub devices:
                name "pcie-root-port", bus PCI, desc "PCI Express Root Port with native hotplug"

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
        String userHelp = run("--device", "vfio-user-pci,help").out;
        assertTrue(userHelp.contains("x-msg-timeout=<int>"), userHelp);
        assertTrue(userHelp.contains("x-no-posted-writes=<bool>"), userHelp);
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
        assertRejected("jvfio: -smp 0: Parameter 'cpus' expects an integer from 1 to 0xff", "-smp", "0");
        assertRejected("jvfio: -smp two: Parameter 'cpus' expects an integer (decimal, or hexadecimal with 0x)",
                "-smp", "two");
        assertRejected("jvfio: -smp cpus=2,sockets=2: Invalid parameter 'sockets' (valid: cpus)", "-smp",
                "cpus=2,sockets=2");
        assertRejected("jvfio: -smp 256: Parameter 'cpus' expects an integer from 1 to 0xff", "-accel", "none",
                "-smp", "256");
        assertRejected("jvfio: -device e1000: 'e1000' is not a valid device model name (-device help lists them)",
                "-device", "e1000");
        assertRejected("jvfio: -device vfio-pci,host=01:00.0,addr=40.0: Parameter 'addr' expects a PCI "
                        + "slot.function (e.g. addr=04.0: slot 00-1f, function 0-7, in hex)",
                "-device", "vfio-pci,host=01:00.0,addr=40.0");
        assertRejected("jvfio: -device vfio-user-pci,id=a,socket=/s: Duplicate ID 'a' for device",
                "-device", "vfio-pci,id=a,host=01:00.0", "-device", "vfio-user-pci,id=a,socket=/s");
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
    void iommufdMistakes() {
        assertRejected("jvfio: -device vfio-pci,host=0000:01:00.0,iommufd=i1: iommufd=i1 names no -object iommufd "
                + "(there is i0); add -object iommufd,id=i1", "-object", "iommufd,id=i0",
                "-device", "vfio-pci,host=0000:01:00.0,iommufd=i1");
        assertRejected("jvfio: -device vfio-pci,host=0000:01:00.0,iommufd=i0: iommufd=i0 names no -object iommufd; "
                + "add -object iommufd,id=i0", "-device", "vfio-pci,host=0000:01:00.0,iommufd=i0");
        assertRejected("jvfio: -object iommufd: Parameter 'id' is missing", "-object", "iommufd");
        assertRejected("jvfio: -object iommufd,id=r: Duplicate ID 'r' for object",
                "-object", "memory-backend-memfd,id=r,size=64M", "-object", "iommufd,id=r", "-machine", "memory-backend=r");
        assertRejected("jvfio: -device vfio-pci,host=0000:01:00.0,iommufd=: Parameter 'iommufd' expects the id of an "
                + "-object iommufd (e.g. iommufd=i0, with -object iommufd,id=i0)",
                "-device", "vfio-pci,host=0000:01:00.0,iommufd=");
        assertTrue(run("-object", "help").out.contains("  iommufd\n"));
        assertTrue(run("-device", "vfio-pci,help").out.contains("iommufd="));
    }

    /** This machine's kernel has no iommufd (a real condition): the object's error, one line, exit 1. */
    @Test
    void noDevIommuIsOneClearLine() {
        Result r = run("-accel", "none", "-object", "iommufd,id=i0", "-device", "vfio-pci,host=0000:ff:1f.7,iommufd=i0");
        assertEquals(1, r.status, r.toString());
        if (java.nio.file.Files.exists(java.nio.file.Path.of("/dev/iommu"))) {
            assertEquals("jvfio: -device vfio-pci,host=0000:ff:1f.7,iommufd=i0: there is no PCI device 0000:ff:1f.7 on "
                    + "this host (lspci -D lists them)\n", r.err);
        } else {
            assertEquals("jvfio: -object iommufd,id=i0: /dev/iommu does not exist: this kernel has no iommufd (it needs "
                    + "CONFIG_IOMMUFD, Linux 6.2 or later, and modprobe iommufd); use the VFIO container instead (drop "
                    + "-object iommufd and iommufd=)\n", r.err);
        }
    }

    @Test
    void aDeviceFdThatIsNotOpenIsOneClearLine() {
        Result r = run("-accel", "none", "-device", "vfio-pci,fd=1000000");
        assertEquals(1, r.status, r.toString());
        assertEquals("jvfio: -device vfio-pci,fd=1000000: fd=1000000: fd 1000000 is not open in this process; the "
                + "management layer must pass it open (without close-on-exec) when it starts jvfio\n", r.err);
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

    /** Issue 13 item 10: each of these was accepted, or gave a stack trace or two lines. */
    @Test
    void commandLineEdgesOfIssue13AreOneClearLine(@TempDir Path dir) {
        String longPath = "/tmp/" + "x".repeat(110) + ".sock";
        Result r = run("-accel", "none", "-device", "vfio-user-pci,socket=" + longPath);
        assertEquals(1, r.status, r.toString());
        assertEquals("", r.out);
        assertEquals(1, r.err.lines().count(), r.err);
        assertTrue(r.err.startsWith("jvfio: -device vfio-user-pci,socket=" + longPath + ": "), r.err);
        assertTrue(r.err.contains("a UNIX socket path holds at most 107 bytes; " + longPath + " has 120"), r.err);

        assertRejected("jvfio: -m 64 M: Parameter 'size' expects a size: a number with an optional suffix B, K, M, "
                + "G or T (e.g. 512M)", "-m", "64 M");
        assertRejected("jvfio: -machine pc,memory-backend=: Parameter 'memory-backend' expects the id of a memory "
                + "backend (e.g. memory-backend=ram0, with -object memory-backend-memfd,id=ram0,size=SIZE)",
                "-machine", "pc,memory-backend=");
        assertRejected("jvfio: -m 64\\nM: Parameter 'size' expects a size: a number with an optional suffix B, K, M, "
                + "G or T (e.g. 512M)", "-m", "64\nM");

        Path missing = dir.resolve("nonexistent");
        assertRejected("jvfio: memory-backend-file 'r': mem-path " + missing + " does not exist; give an existing "
                + "directory (e.g. a hugetlbfs mount such as /dev/hugepages) or an existing file",
                "-accel", "none", "-object", "memory-backend-file,id=r,size=64M,mem-path=" + missing,
                "-machine", "memory-backend=r");
        assertTrue(!Files.exists(missing, java.nio.file.LinkOption.NOFOLLOW_LINKS), "no file is created at " + missing);
    }

    /** No-IOMMU mode is for the host-side driver: with KVM, x-no-iommu=on is refused before any host device is looked at. */
    @Test
    void xNoIommuWithKvmIsRefusedWithTheReason() {
        Prerequisites.requireKvm();
        assertRejected("jvfio: -device vfio-pci,host=0000:ff:1f.7,x-no-iommu=on: x-no-iommu=on is for the host-side "
                + "driver only (-accel none): this machine runs its guest on KVM, and without an IOMMU there is no DMA "
                + "translation, so a guest cannot be given a no-IOMMU device safely (the guest physical addresses its "
                + "driver programs would reach host memory, anywhere); use -accel none, or boot the host with an IOMMU "
                + "and drop x-no-iommu=on", "-accel", "kvm", "-device", "vfio-pci,host=0000:ff:1f.7,x-no-iommu=on");
    }

    @Test
    void xNoIommuMistakes() {
        assertTrue(run("-device", "vfio-pci,help").out.contains("x-no-iommu=<bool>"));
        // -accel none, the mode's one use: the device must exist and be in a no-IOMMU group.
        assertRejected("jvfio: -device vfio-pci,host=0000:ff:1f.7,x-no-iommu=on: there is no PCI device 0000:ff:1f.7 on "
                + "this host (lspci -D lists them)", "-accel", "none", "-device", "vfio-pci,host=0000:ff:1f.7,x-no-iommu=on");
        assertRejected("jvfio: -device vfio-pci,host=0000:ff:1f.7,x-no-iommu=on,iommufd=i0: vfio-pci: x-no-iommu=on "
                + "opens the device's no-IOMMU group (/dev/vfio/noiommu-N), and the kernel gives a no-IOMMU device no "
                + "cdev to bind to an iommufd; drop iommufd=", "-object", "iommufd,id=i0",
                "-device", "vfio-pci,host=0000:ff:1f.7,x-no-iommu=on,iommufd=i0");
    }

    /** Issue 13 item 10: -m 9T on KVM said only KVM_SET_USER_MEMORY_REGION ... EINVAL. */
    @Test
    void moreRamThanKvmCanHoldIsRefusedWithTheLimit() {
        Prerequisites.requireKvm();
        assertRejected("jvfio: -m 9T: KVM takes at most 8T of guest RAM (the RAM above 4 GiB is one memory slot, and a "
                + "slot holds at most 2^31 - 1 pages, KVM_MEM_MAX_NR_PAGES); use -m 8T or less", "-accel", "kvm", "-m", "9T");
    }

    @Test
    void serveNamesWhatIsWrong(@TempDir Path dir) throws Exception {
        assertRejected("jvfio: --serve: requires an argument, e.g. --serve edu,socket=/tmp/edu.sock", "--serve");
        assertRejected("jvfio: --serve edu: Parameter 'socket' is missing: give the path to listen on, e.g. "
                + "socket=/tmp/edu.sock", "--serve", "edu");
        assertRejected("jvfio: --serve nvme,socket=/tmp/x: Parameter 'device' does not accept value 'nvme' (use edu or "
                + "gpio or tiny or nobar)", "--serve", "nvme,socket=/tmp/x");
        assertRejected("jvfio: --serve runs a vfio-user device server and takes no other options; start the VM in "
                + "another jvfio with -device vfio-user-pci,socket=PATH", "--serve", "edu,socket=/tmp/x", "-m", "64M");
        Path socket = dir.resolve("busy.sock");
        try (EduDevice edu = new EduDevice(); VfioUserServer server = VfioUserServer.start(socket, edu)) {
            assertRejected("jvfio: --serve edu,socket=" + socket + ": bind on " + socket + " (another server is "
                    + "listening on it): Address already in use (EADDRINUSE)", "--serve", "edu,socket=" + socket);
        }
        Result help = run("--serve", "help");
        assertEquals(0, help.status);
        for (String device : new String[] {"edu", "gpio", "tiny", "nobar"}) {
            assertTrue(help.out.contains("name \"" + device + "\""), help.out);
        }
    }

    /**
     * Issue 13 items 6, 7 and 9: the bounds a served client is held to, as --serve properties. The
     * DMA bound given on the command line is the one the running server holds a client to: a raw
     * client's 16 KiB window (a sealed memfd) gets ENOMEM under x-max-dma-mapped=8K, an 8 KiB one is
     * mapped.
     */
    @Test
    void serveTakesTheClientLimitsAndNamesABadOne(@TempDir Path dir) throws Exception {
        CommandLine.Command c = new CommandLine(io.jvfio.vmm.device.DeviceRegistry.load()).parse(new String[] {
                "--serve", "edu,socket=/tmp/x,x-negotiation-timeout=2000,x-message-timeout=3000,"
                        + "x-max-queued-output=8M,x-write-stall-timeout=4000,x-max-dma-mapped=64G"});
        assertEquals(new CommandLine.Serve("edu", Path.of("/tmp/x"),
                new io.jvfio.vfio.user.transport.ConnectionLimits(2000, 3000, 8L << 20, 4000, 64L << 30)), c);
        assertEquals(new CommandLine.Serve("edu", Path.of("/tmp/x"), io.jvfio.vfio.user.transport.ConnectionLimits.DEFAULTS),
                new CommandLine(io.jvfio.vmm.device.DeviceRegistry.load()).parse(new String[] {"--serve",
                        "edu,socket=/tmp/x"}), "unset, each takes its default");
        assertRejected("jvfio: --serve edu,socket=/tmp/x,x-message-timeout=0: Parameter 'x-message-timeout' expects "
                + "an integer from 1 to 3600000", "--serve", "edu,socket=/tmp/x,x-message-timeout=0");
        assertRejected("jvfio: --serve edu,socket=/tmp/x,x-negotiation-timeout=ten: Parameter 'x-negotiation-timeout' "
                + "expects an integer (decimal, or hexadecimal with 0x)", "--serve", "edu,socket=/tmp/x,x-negotiation-timeout=ten");
        assertRejected("jvfio: --serve edu,socket=/tmp/x,x-max-queued-output=64K: x-max-queued-output=65536 is out of "
                + "range: give 1114112 (one largest message, 1088K) to 1073741824 (1G) bytes", "--serve",
                "edu,socket=/tmp/x,x-max-queued-output=64K");
        // Below one page, above 2^47, and 2^64 - 1 (a u64 on the command line, printed as given).
        String[][] outOfRange = {{"4095", "4095"}, {"0", "0"}, {"256T", "281474976710656"},
                {"0xffffffffffffffff", "18446744073709551615"}};
        for (String[] given : outOfRange) {
            assertRejected("jvfio: --serve edu,socket=/tmp/x,x-max-dma-mapped=" + given[0] + ": x-max-dma-mapped="
                    + given[1] + " is out of range: give 4096 (one 4K page) to 140737488355328 (128T, the x86-64 user "
                    + "address space) bytes", "--serve", "edu,socket=/tmp/x,x-max-dma-mapped=" + given[0]);
        }
        assertRejected("jvfio: --serve edu,socket=/tmp/x,x-max-dma-mapped=lots: Parameter 'x-max-dma-mapped' expects "
                + "a size: a number with an optional suffix B, K, M, G or T (e.g. 512M)", "--serve",
                "edu,socket=/tmp/x,x-max-dma-mapped=lots");
        assertRejected("jvfio: --serve edu,socket=/tmp/x,x-write-stall-timout=5: Invalid parameter "
                + "'x-write-stall-timout' (did you mean 'x-write-stall-timeout'? valid: device, socket, "
                + "x-negotiation-timeout, x-message-timeout, x-max-queued-output, x-write-stall-timeout, "
                + "x-max-dma-mapped)", "--serve", "edu,socket=/tmp/x,x-write-stall-timout=5");

        Path socket = dir.resolve("edu.sock");
        CommandLine.Serve bounded = (CommandLine.Serve) new CommandLine(io.jvfio.vmm.device.DeviceRegistry.load())
                .parse(new String[] {"--serve", "edu,socket=" + socket + ",x-max-dma-mapped=8K"});
        assertEquals(1, whileServing(bounded, () -> {
            try (io.jvfio.vmm.linux.OwnedFd memfd = io.jvfio.vmm.linux.Syscalls.memfdCreate("dma",
                    io.jvfio.vmm.linux.jna.LinuxConstants.MFD_ALLOW_SEALING);
                 io.jvfio.vfio.user.RawPeer peer = io.jvfio.vfio.user.RawPeer.connect(socket)) {
                io.jvfio.vmm.linux.Syscalls.ftruncate(memfd, 16 << 10);
                io.jvfio.vmm.linux.Syscalls.addSeals(memfd, io.jvfio.vmm.linux.jna.LinuxConstants.F_SEAL_SHRINK
                        | io.jvfio.vmm.linux.jna.LinuxConstants.F_SEAL_GROW);
                assertTrue(!peer.call(1, io.jvfio.vfio.user.protocol.VfioUserCommand.VERSION, io.jvfio.vfio.user.Le.version(0, 1,
                        "{\"capabilities\":{\"max_msg_fds\":16}}")).isError());
                // DMA_MAP: argsz, flags READ|WRITE, offset, address, size.
                peer.call(2, io.jvfio.vfio.user.protocol.VfioUserCommand.DMA_MAP, io.jvfio.vfio.user.Le.of().u32(32).u32(3)
                        .u64(0).u64(1L << 32).u64(16 << 10).build(), memfd.get())
                        .expectError(io.jvfio.vmm.linux.Errno.ENOMEM);
                assertTrue(!peer.call(3, io.jvfio.vfio.user.protocol.VfioUserCommand.DMA_MAP, io.jvfio.vfio.user.Le.of().u32(32)
                        .u32(3).u64(0).u64(1L << 32).u64(8 << 10).build(), memfd.get()).isError(),
                        "a window within the bound is mapped");
            }
        }));
    }

    // ---- the main job: the built-in driver against a device, on KVM or from the host ----

    static final String LSPCI_EDU = """
            00:00.0 Host bridge [0600]: Device [8086:1237] (rev 02)
            00:01.0 Unclassified device [00ff]: Device [1234:11e8] (rev 10)
            """;

    static java.util.Map<String, String> steps(String out) {
        return ReportSteps.of(out.lines().toList());
    }

    static void assertAllPass(Result r) {
        java.util.Map<String, String> steps = steps(r.out);
        assertEquals(List.of("find", "bars", "enable", "id", "liveness", "factorial", "dma", "interrupt", "storm",
                "trapped", "direct", "intx"), List.copyOf(steps.keySet()), r.out);
        steps.forEach((step, line) -> assertTrue(line.startsWith("PASS "), step + ": " + line + "\n" + r.out));
        assertTrue(!r.out.contains("\nunclaimed:"), "a driver right about its device makes no unclaimed access:\n"
                + r.out);
        assertEquals(0, r.status, r.toString());
    }

    /**
     * -smp 2: the interrupt step and the storm aim edu's MSI-X vector at each vCPU in turn (the
     * destination field of the message address), and each vCPU's handler counts exactly its own.
     */
    @Test
    void twoVcpusEachTakeTheInterruptsAimedAtThem() {
        for (String accel : accelerators()) {
            Result r = run("-accel", accel, "-smp", "2");
            assertEquals("", r.err);
            assertAllPass(r);
            java.util.Map<String, String> steps = steps(r.out);
            boolean kvm = accel.equals("kvm");
            String where = kvm ? "the guest's IDT handler" : "the local APIC";
            assertEquals("PASS MSI-X vector 0x41 aimed at each vCPU in turn, taken by " + where + " (2 interrupts): 1 "
                    + "on vCPU 0, 1 on vCPU 1", steps.get("interrupt"), r.out);
            assertEquals("PASS 2000 interrupts raised one at a time, 2000 counted " + (kvm ? "by the guest's handler"
                    : "at the local APIC") + ": 1000 on vCPU 0, 1000 on vCPU 1", steps.get("storm"), r.out);
            if (kvm) {
                assertTrue(r.out.startsWith("jvfio: the built-in guest driver on 2 KVM vCPUs; 64 MiB of RAM"), r.out);
                assertTrue(r.out.contains("\n  vcpu0: ") && r.out.contains("\n  vcpu1: "), r.out);
            } else {
                assertTrue(r.out.contains("; 2 local APICs, 64 MiB of RAM"), r.out);
            }
        }
    }

    @Test
    void theMainJobRunsTheGuestDriverOnKvmAgainstTheEmbeddedEdu() {
        Prerequisites.requireKvm();
        Result r = run();
        assertEquals("", r.err);
        assertAllPass(r);
        String[] lines = r.out.split("\n");
        assertTrue(lines[0].matches("jvfio: the built-in guest driver on a KVM vCPU; 64 MiB of RAM; the edu device "
                + "served over vfio-user on /.*/edu\\.sock"), lines[0]);
        assertTrue(r.out.startsWith(lines[0] + "\n" + LSPCI_EDU + "steps:\n"), r.out);
        java.util.Map<String, String> steps = steps(r.out);
        assertEquals("PASS 00:01.0 [1234:11e8], edu-compatible; 2 functions on bus 0", steps.get("find"));
        assertEquals("PASS 3 memory BARs sized and placed: BAR0 1M at 0xc0000000, BAR1 4K at 0xc0100000, BAR2 1M at "
                + "0xc0200000", steps.get("bars"));
        assertEquals("PASS 10! = 3628800", steps.get("factorial"));
        assertEquals("PASS MSI-X vector 0x41 taken by the guest's IDT handler (1 interrupt)", steps.get("interrupt"));
        // Every interrupt raised is counted by the guest's handler, through the irqfd bypass.
        assertEquals("PASS 1000 interrupts raised one at a time, 1000 counted by the guest's handler",
                steps.get("storm"));
        // The exit counters prove it: one MMIO exit per trapped access, none for the mapped BAR.
        assertEquals("PASS 1000 reads of 0xc0000000: 1000 MMIO exits, one per access", steps.get("trapped"));
        assertEquals("PASS 1000 reads of 0xc0200000: 0 MMIO exits: the BAR is memory to the guest", steps.get("direct"));
        assertTrue(r.out.matches("(?s).*\nexits: IO \\d+ MMIO \\d+.*"), r.out);
        for (String l : new String[] {"trapped MMIO read (guest)", "directly mapped read (guest)",
                "interrupt (raise -> handler)"}) {
            assertTrue(r.out.matches("(?s).*\n  " + java.util.regex.Pattern.quote(l) + " +median +[0-9.]+ us  p99 +"
                    + "[0-9.]+ us  \\(1000 samples\\)\n.*"), l + " in\n" + r.out);
        }
        assertTrue(r.out.contains(" MSI-X 0: a KVM irqfd on a GSI route (the bypass)"), r.out);
        // INTx through the in-kernel IOAPIC: slot 1's INTA# is GSI 17, re-armed by the resampling irqfd at each EOI.
        // (This machine's KVM ends a level-triggered interrupt at delivery: the step says so when an interrupt
        // re-armed early finds the device's status clear, and allows only those.)
        assertTrue(steps.get("intx").startsWith("PASS INTA# on IOAPIC pin 17 (interrupt line 17), level-triggered, "
                + "BAR0 MMIO: 10 raised one at a time, 10 taken by the guest's IDT handler, each acknowledged at the "
                + "device before its EOI"), steps.get("intx"));
        assertAllPass(run("-accel", "kvm"));
    }

    /** Clean shutdown: after a run, no vCPU or interrupt thread runs on and no fd stays open. */
    @Test
    void aRunLeavesNoThreadAndNoFdBehind() throws Exception {
        assertAllPass(run()); // the first run opens what the JDK and Netty keep for good
        long fdsBefore = Fds.open(); // (its first use runs a vfio-user cycle of its own: before the threads)
        java.util.Set<String> threadsBefore = threadNames();
        assertAllPass(run());
        assertAllPass(run("-accel", "none"));
        long deadline = System.nanoTime() + 10_000_000_000L;
        // No thread that was not there before: one of the first run's may still have been ending when
        // the names were taken (a session's signalling thread ends after its client has gone).
        while ((Fds.open() != fdsBefore || !threadsBefore.containsAll(threadNames())) && System.nanoTime() < deadline) {
            Thread.sleep(50); // threads told to stop may take a moment to end
        }
        java.util.Set<String> left = new java.util.TreeSet<>(threadNames());
        left.removeAll(threadsBefore);
        assertEquals(java.util.Set.of(), left, "threads left behind");
        assertEquals(fdsBefore, Fds.open(), "open fds: " + Fds.describe());
    }

    static java.util.Set<String> threadNames() {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).map(Thread::getName)
                // the JDK's common pool and Netty's GlobalEventExecutor come and go on their own
                .filter(n -> !n.startsWith("ForkJoinPool") && !n.startsWith("globalEventExecutor"))
                .collect(java.util.stream.Collectors.toSet());
    }

    @Test
    void withXNoKvmMsixTheInterruptsTakeThePollerToKvmSignalMsi(@TempDir Path dir) {
        Prerequisites.requireKvm();
        Path socket = dir.resolve("edu.sock");
        try (EduDevice edu = new EduDevice(); VfioUserServer server = VfioUserServer.start(socket, edu)) {
            Result r = run("-device", "vfio-user-pci,socket=" + socket + ",x-no-kvm-msix=on");
            assertAllPass(r);
            assertTrue(r.out.contains(" MSI-X 0: 1001 through the poller to KVM_SIGNAL_MSI"),
                    r.out);
        }
    }

    @Test
    void withoutKvmTheSameStepsRunFromTheHostAndTheFirstLineSaysSo() {
        Result r = run("-accel", "none", "-object", "memory-backend-memfd,id=ram0,size=3200M",
                "-machine", "memory-backend=ram0");
        assertEquals("", r.err);
        assertAllPass(r);
        assertTrue(r.out.startsWith("jvfio: no KVM (-accel none): the built-in driver's steps run from the host, in "
                + "Java, through the same buses and device model; 3200 MiB of RAM; the edu device served over "
                + "vfio-user on "), r.out);
        java.util.Map<String, String> steps = steps(r.out);
        assertEquals("PASS 1000 interrupts raised one at a time, 1000 counted at the local APIC", steps.get("storm"));
        // INTx through the emulated IOAPIC: its resampler re-arms the device's line at each EOI.
        assertEquals("PASS INTA# on IOAPIC pin 17 (interrupt line 17), level-triggered, BAR0 MMIO: 10 raised one at a "
                + "time, 10 taken by the local APIC, each acknowledged at the device before its EOI", steps.get("intx"));
        assertEquals("PASS 1000 reads of 0xc0000000 (last 0x010000ed); no vCPU, so no exits to count",
                steps.get("trapped"));
        assertTrue(!r.out.contains("\nexits:"), "no vCPU, no exit line:\n" + r.out);
        assertTrue(r.out.contains(" MSI-X 0: 1001 through the poller to the virtual local APIC"),
                r.out);
    }

    @Test
    void aDeviceThatIsNotEduCompatibleHasItsRegisterStepsSkippedWithTheReason(@TempDir Path dir) {
        Path s1 = dir.resolve("edu1.sock");
        Path s2 = dir.resolve("edu2.sock");
        try (EduDevice edu1 = new EduDevice(); VfioUserServer server1 = VfioUserServer.start(s1, edu1);
             EduDevice edu2 = new EduDevice(); VfioUserServer server2 = VfioUserServer.start(s2, edu2)) {
            for (String accel : Prerequisites.kvmRunWanted() ? new String[] {"kvm", "none"} : new String[] {"none"}) {
                // The first -device is the one driven; its vendor ID is overridden, so it is not edu-compatible.
                Result r = run("-m", "512", "-accel", accel, "-name", "web",
                        "-device", "vfio-user-pci,id=nic,socket=" + s1 + ",addr=04.0,x-pci-vendor-id=0x1af4",
                        "-device", "vfio-user-pci,socket=" + s2 + ",x-no-mmap=on");
                assertEquals(0, r.status, r.toString());
                assertTrue(r.out.contains("; 512 MiB of RAM, VM \"web\"\n"
                        + "00:00.0 Host bridge [0600]: Device [8086:1237] (rev 02)\n"
                        + "00:01.0 Unclassified device [00ff]: Device [1234:11e8] (rev 10)\n"
                        + "00:04.0 Unclassified device [00ff]: Device [1af4:11e8] (rev 10)\n"
                        + "steps:\n"), r.out);
                java.util.Map<String, String> steps = steps(r.out);
                assertEquals("PASS 00:04.0 [1af4:11e8]; 3 functions on bus 0", steps.get("find"));
                for (String s : new String[] {"id", "liveness", "factorial", "dma", "interrupt", "storm"}) {
                    assertEquals("SKIP the device [1af4:11e8] is not edu-compatible (1234:11e8): edu's registers are not "
                            + "there to drive", steps.get(s), s);
                }
                assertEquals("SKIP no INTx recipe for [1af4:11e8]: the driver knows how to raise and acknowledge INTx "
                        + "on edu (1234:11e8), the GPIO card (1234:10f0) and 16550-compatible UARTs (class 0700, "
                        + "interface 00-06, registers in I/O BAR0) only", steps.get("intx"), r.out);
                assertTrue(steps.get("trapped").startsWith("PASS 1000 reads of 0xc0000000"), r.out);
                assertTrue(steps.get("direct").startsWith("PASS 1000 reads of 0xc0200000"), r.out);
                assertTrue(r.out.contains("devices:\n  00:04.0 vfio-user-pci,id=nic,socket=" + s1), r.out);
                assertTrue(r.out.contains("\n  00:01.0 vfio-user-pci,socket=" + s2 + ",x-no-mmap=on, over vfio-user: "
                        + "BAR0 1M, BAR1 4K, BAR2 1M, CONFIG 256B"), r.out);
            }
            assertEquals(Prerequisites.kvmRunWanted() ? 2 : 1, server1.clientsServed());
        }
    }

    // ---- devices that are not edu: an I/O BAR, a BAR under a page, no BAR at all ----

    /** The accelerators this machine can run the main job on. */
    static String[] accelerators() {
        return Prerequisites.kvmRunWanted() ? new String[] {"kvm", "none"} : new String[] {"none"};
    }

    /**
     * {@code jvfio --serve DEVICE,socket=...} (the same code, on a thread of this JVM) until {@code body}
     * has run against it; returns how many clients it served.
     */
    static int whileServing(Path socket, String device, Runnable body) throws Exception {
        return whileServing(new CommandLine.Serve(device, socket), body);
    }

    /** {@code jvfio --serve} as {@code serve} asks (the same code, on a thread of this JVM) until {@code body} has run. */
    static int whileServing(CommandLine.Serve serve, Runnable body) throws Exception {
        String device = serve.device();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        java.util.concurrent.CountDownLatch stop = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CompletableFuture<Integer> status = java.util.concurrent.CompletableFuture.supplyAsync(
                () -> DeviceServer.run(serve, new PrintStream(out, true,
                        StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8), stop));
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!out.toString(StandardCharsets.UTF_8).startsWith("jvfio: serving ") && !status.isDone()) {
            assertTrue(System.nanoTime() < deadline, "--serve " + device + " did not start: " + err);
            Thread.onSpinWait();
        }
        try {
            body.run();
        } finally {
            stop.countDown();
        }
        assertEquals(0, status.get(10, java.util.concurrent.TimeUnit.SECONDS), err.toString());
        String said = out.toString(StandardCharsets.UTF_8);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("after (\\d+) client").matcher(said);
        assertTrue(m.find(), said);
        return Integer.parseInt(m.group(1));
    }

    /** No step failed (the ones not named may PASS or SKIP), nothing unclaimed, status 0. */
    static java.util.Map<String, String> assertNoFailure(Result r) {
        java.util.Map<String, String> steps = steps(r.out);
        assertTrue(steps.keySet().containsAll(List.of("find", "bars", "enable", "trapped", "direct")), r.out);
        steps.forEach((step, line) -> assertTrue(line.startsWith("PASS ") || line.startsWith("SKIP "),
                step + ": " + line + "\n" + r.out));
        assertTrue(!r.out.contains("\nunclaimed:"), r.out);
        assertEquals("", r.err);
        assertEquals(0, r.status, r.toString());
        return steps;
    }

    static void assertEduStepsSkipped(java.util.Map<String, String> steps, String ids) {
        for (String s : new String[] {"id", "liveness", "factorial", "dma", "interrupt", "storm"}) {
            assertEquals("SKIP the device [" + ids + "] is not edu-compatible (1234:11e8): edu's registers are not "
                    + "there to drive", steps.get(s), s);
        }
    }

    @Test
    void aDeviceWithOnlyAnIoBarIsPlacedInTheIoWindowAndReadThroughPorts(@TempDir Path dir) throws Exception {
        Path socket = dir.resolve("gpio.sock");
        int clients = whileServing(socket, "gpio", () -> {
            for (String accel : accelerators()) {
                Result r = run("-accel", accel, "-device", "vfio-user-pci,socket=" + socket);
                java.util.Map<String, String> steps = assertNoFailure(r);
                assertTrue(r.out.contains("\n00:01.0 System peripheral [0880]: Device [1234:10f0] (rev 01)\nsteps:\n"),
                        r.out);
                assertEquals("PASS 00:01.0 [1234:10f0]; 2 functions on bus 0", steps.get("find"));
                assertEquals("PASS 1 I/O BAR sized and placed: BAR0 16B at port 0xc000", steps.get("bars"));
                assertEquals("PASS command 0x0005: I/O decode and bus mastering on; port 0xc000 traps, none is mapped",
                        steps.get("enable"));
                assertEduStepsSkipped(steps, "1234:10f0");
                // The id register, read through the port: forwarded to the device each time.
                assertEquals(accel.equals("kvm")
                        ? "PASS 1000 reads of port 0xc000 (last 0x4750494f): 1000 IO exits, one per access"
                        : "PASS 1000 reads of port 0xc000 (last 0x4750494f); no vCPU, so no exits to count",
                        steps.get("trapped"), r.out);
                assertEquals("SKIP the device has no memory BAR to map into the guest (I/O BARs always trap)",
                        steps.get("direct"));
                // The issue's acceptance: INTx end to end on a device that has only an I/O BAR and INTx.
                assertTrue(steps.get("intx").startsWith("PASS INTA# on IOAPIC pin 17 (interrupt line 17), "
                        + "level-triggered, BAR0 I/O: 10 raised one at a time, 10 taken by "
                        + (accel.equals("kvm") ? "the guest's IDT handler" : "the local APIC") + ", each acknowledged "
                        + "at the device before its EOI"), r.out);
                assertTrue(r.out.contains("  trapped port read (" + (accel.equals("kvm") ? "guest" : "host-side")
                        + ")  median"), r.out);
                assertTrue(r.out.contains("devices:\n  00:01.0 vfio-user-pci,socket=" + socket + ", over vfio-user: "
                        + "BAR0 16B I/O, CONFIG 256B; INTx; "), r.out);
            }
        });
        assertEquals(accelerators().length, clients);
    }

    @Test
    void aMemoryBarUnderAPageIsTrappedAndTimed(@TempDir Path dir) throws Exception {
        Path socket = dir.resolve("tiny.sock");
        whileServing(socket, "tiny", () -> {
            for (String accel : accelerators()) {
                Result r = run("-accel", accel, "-device", "vfio-user-pci,socket=" + socket);
                java.util.Map<String, String> steps = assertNoFailure(r);
                assertEquals("PASS 00:01.0 [1234:10f1]; 2 functions on bus 0", steps.get("find"));
                assertEquals("PASS 1 memory BAR sized and placed: BAR0 256B at 0xc0000000", steps.get("bars"));
                assertEquals("PASS command 0x0006: memory decode and bus mastering on; 0xc0000000 traps, none is mapped",
                        steps.get("enable"));
                assertEduStepsSkipped(steps, "1234:10f1");
                assertEquals(accel.equals("kvm") ? "PASS 1000 reads of 0xc0000000: 1000 MMIO exits, one per access"
                        : "PASS 1000 reads of 0xc0000000 (last 0x54494e59); no vCPU, so no exits to count",
                        steps.get("trapped"), r.out);
                assertEquals("SKIP the device's memory BARs are smaller than a page, and a KVM memory slot is whole "
                        + "pages: they trap", steps.get("direct"));
                assertEquals("SKIP no INTx recipe for [1234:10f1]: the driver knows how to raise and acknowledge INTx "
                        + "on edu (1234:11e8), the GPIO card (1234:10f0) and 16550-compatible UARTs (class 0700, "
                        + "interface 00-06, registers in I/O BAR0) only", steps.get("intx"));
                assertTrue(r.out.contains(", over vfio-user: BAR0 256B under a page: trapped, CONFIG 256B; INTx; "),
                        r.out);
            }
        });
    }

    @Test
    void aDeviceWithNoBarGetsItsConfigurationStepsAndSkipsTheRest(@TempDir Path dir) throws Exception {
        Path socket = dir.resolve("nobar.sock");
        whileServing(socket, "nobar", () -> {
            for (String accel : accelerators()) {
                Result r = run("-accel", accel, "-device", "vfio-user-pci,socket=" + socket);
                java.util.Map<String, String> steps = assertNoFailure(r);
                assertEquals("PASS 00:01.0 [1234:10f2]; 2 functions on bus 0", steps.get("find"));
                assertEquals("PASS the device implements no BARs (all six read 0 after sizing): nothing to place",
                        steps.get("bars"));
                assertEquals("PASS command 0x0004: bus mastering on (no BAR to decode); no BAR traps, none is mapped",
                        steps.get("enable"));
                assertEduStepsSkipped(steps, "1234:10f2");
                assertEquals("SKIP the device has no BARs: there is nothing to read", steps.get("trapped"));
                assertEquals("SKIP the device has no BARs: there is nothing to read", steps.get("direct"));
                assertEquals("SKIP the device has no INTx pin (interrupt pin register 0)", steps.get("intx"));
                assertTrue(!r.out.contains("\nlatency:"), "nothing timed:\n" + r.out);
                assertTrue(r.out.contains(", over vfio-user: CONFIG 256B; no interrupts; "), r.out);
            }
        });
    }

    /**
     * A real edu device served over a real socket, with one defect put in on purpose: its factorial
     * register reads back wrong. The run must say FAIL for that step and exit with status 3.
     */
    @Test
    void aStepThatFailsIsReportedAndTheStatusIsThree(@TempDir Path dir) {
        Path socket = dir.resolve("faulty.sock");
        try (EduDevice edu = new EduDevice(); VfioUserServer server = VfioUserServer.start(socket,
                new WrongFactorial(edu))) {
            for (String accel : Prerequisites.kvmRunWanted() ? new String[] {"kvm", "none"} : new String[] {"none"}) {
                Result r = run("-accel", accel, "-device", "vfio-user-pci,socket=" + socket);
                assertEquals(Main.EXIT_STEP_FAILED, r.status, r.toString());
                java.util.Map<String, String> steps = steps(r.out);
                assertEquals("FAIL 10! = 3628801", steps.get("factorial"), r.out);
                assertEquals(1, steps.values().stream().filter(s -> s.startsWith("FAIL")).count(), r.out);
                assertTrue(steps.get("storm").startsWith("PASS"), r.out);
            }
        }
    }

    // ---- issue 13 item 8: a hostile or dead server must not crash or hang the run ----

    /** Runs the command, bounded: a run that hangs fails the test rather than hang it. */
    static Result runWithin(long seconds, String... args) throws Exception {
        java.util.concurrent.CompletableFuture<Result> r = java.util.concurrent.CompletableFuture.supplyAsync(
                () -> run(args));
        try {
            return r.get(seconds, java.util.concurrent.TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new AssertionError("the run did not end within " + seconds + " s", e);
        }
    }

    /**
     * A server that stops answering in the middle of a run (its device blocks its event loop from the
     * driver's factorial write on: connected, replying nothing). The run, which never ended with the
     * default x-msg-timeout, ends with one line saying so and status 4.
     */
    @Test
    void aServerThatStopsAnsweringEndsTheRunWithOneLineAndStatusFour(@TempDir Path dir) throws Exception {
        Path socket = dir.resolve("stuck.sock");
        assertAllPass(run()); // the first run opens what the JDK and Netty keep for good
        long fdsBefore = Fds.open();
        java.util.Set<String> threadsBefore = threadNames();
        for (String accel : accelerators()) {
            java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
            try (EduDevice edu = new EduDevice(); VfioUserServer server = VfioUserServer.start(socket,
                    new StuckAfterFactorial(edu, release))) {
                try {
                    // -accel none with the default x-msg-timeout (the issue's case); KVM with a shorter one.
                    Result r = runWithin(120, "-accel", accel, "-device", "vfio-user-pci,socket=" + socket
                            + (accel.equals("kvm") ? ",x-msg-timeout=1000" : ""));
                    assertEquals(Main.EXIT_DEVICE_GONE, r.status, r.toString());
                    assertEquals("jvfio: the vfio-user server at " + socket + " stopped answering: 2 requests in a row, "
                            + "the last VFIO_USER_REGION_READ, got no reply within "
                            + "x-msg-timeout=" + (accel.equals("kvm") ? 1000 : 5000) + " ms (raise x-msg-timeout if it is "
                            + "only slow); the run stops\n", r.err, accel);
                } finally {
                    release.countDown();
                }
            }
        }
        long deadline = System.nanoTime() + 10_000_000_000L;
        // No thread that was not there before: one of the first run's may still have been ending when
        // the names were taken (a session's signalling thread ends after its client has gone).
        while ((Fds.open() != fdsBefore || !threadsBefore.containsAll(threadNames())) && System.nanoTime() < deadline) {
            Thread.sleep(50); // threads told to stop may take a moment to end
        }
        java.util.Set<String> left = new java.util.TreeSet<>(threadNames());
        left.removeAll(threadsBefore);
        assertEquals(java.util.Set.of(), left, "threads left behind");
        assertEquals(fdsBefore, Fds.open(), "open fds: " + Fds.describe());
    }

    /** Delegates to edu until the driver writes the factorial register; from then on it never returns. */
    private static final class StuckAfterFactorial extends io.jvfio.vfio.emulated.ForwardingDevice {
        private static final java.util.concurrent.atomic.AtomicBoolean STUCK = new java.util.concurrent.atomic.AtomicBoolean();
        private final java.util.concurrent.CountDownLatch release;

        StuckAfterFactorial(EduDevice edu, java.util.concurrent.CountDownLatch release) {
            super(edu);
            this.release = release;
        }

        private void stuck() {
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        @Override
        public void read(int region, long offset, io.netty.buffer.ByteBuf dst, int count) {
            if (release.getCount() > 0 && STUCK.get()) {
                stuck();
            }
            super.read(region, offset, dst, count);
        }

        @Override
        public void write(int region, long offset, io.netty.buffer.ByteBuf src, int count) {
            if (region == 0 && offset == io.jvfio.vfio.devices.EduRegisters.FACTORIAL) {
                STUCK.set(true);
            }
            if (release.getCount() > 0 && STUCK.get()) {
                stuck();
            }
            super.write(region, offset, src, count);
        }

        @Override
        public void attach(Context context) {
            STUCK.set(false);
            super.attach(context);
        }
    }

    /**
     * The issue's crash: a 0-byte memfd sent for edu's mmap-able BAR2 gave {@code -accel none} an
     * uncaught InternalError (SIGBUS) at the first direct read. Now BAR2 is trapped (the client warns
     * in its log), and the run passes, its direct step skipped with the reason.
     */
    @Test
    void aZeroByteMemfdForAnMmapableBarIsTrappedAndTheRunPasses(@TempDir Path dir) throws Exception {
        Path socket = dir.resolve("empty.sock");
        try (EduDevice edu = new EduDevice();
             io.jvfio.vmm.linux.OwnedFd empty = io.jvfio.vmm.linux.Syscalls.memfdCreate("empty-bar2", 0);
             VfioUserServer server = VfioUserServer.start(socket, new Bar2From(edu, empty, null))) {
            for (String accel : accelerators()) {
                Result r = runWithin(120, "-accel", accel, "-device", "vfio-user-pci,socket=" + socket);
                assertEquals(0, r.status, r.toString());
                assertEquals("", r.err);
                java.util.Map<String, String> steps = steps(r.out);
                assertEquals("SKIP no BAR area of the device is mapped into the guest: none is mmap-able, or "
                        + "x-no-mmap=on", steps.get("direct"), r.out);
                assertTrue(r.out.contains(", over vfio-user: BAR0 1M, BAR1 4K, BAR2 1M, CONFIG 256B"), r.out);
            }
        }
    }

    /**
     * A server that shrinks the (unsealed) memfd behind BAR2 after the client mapped it, at the
     * driver's factorial write: the direct reads that follow fault. The run ends with one line
     * naming the server, the region and the sizes, and status 4, not an InternalError (-accel none)
     * or a vCPU failure (KVM: the vCPU thread takes the SIGBUS in KVM_RUN).
     */
    @Test
    void aBarFileShrunkUnderItsMappingEndsTheRunWithOneLineAndStatusFour(@TempDir Path dir) throws Exception {
        Path socket = dir.resolve("shrink.sock");
        for (String accel : accelerators()) {
            try (EduDevice edu = new EduDevice();
                 io.jvfio.vmm.linux.OwnedFd bar2 = io.jvfio.vmm.linux.Syscalls.memfdCreate("shrinking-bar2", 0);
                 VfioUserServer server = VfioUserServer.start(socket, new Bar2From(edu, bar2, bar2))) {
                io.jvfio.vmm.linux.Syscalls.ftruncate(bar2, 1 << 20);
                Result r = runWithin(120, "-accel", accel, "-device", "vfio-user-pci,socket=" + socket);
                assertEquals(Main.EXIT_DEVICE_GONE, r.status, r.toString());
                assertEquals("jvfio: the vfio-user server at " + socket + " shrank the file behind region 2 (BAR2) to 0 "
                        + "bytes after it was mapped; the mapped area [0x0+0x100000] needs 1048576 (the server did not "
                        + "seal it against shrinking, F_SEAL_SHRINK); " + (accel.equals("kvm")
                        ? "the guest's access faulted (SIGBUS in KVM_RUN)" : "a host-side access faulted (SIGBUS)")
                        + "; the run stops\n", r.err, accel);
            }
        }
    }

    /**
     * edu with its BAR2 mapped from {@code fd} (the device's own BAR2 still answers messages); with
     * {@code shrink}, that file is truncated to nothing when the driver writes the factorial register.
     */
    private static final class Bar2From extends io.jvfio.vfio.emulated.ForwardingDevice {
        private final io.jvfio.vmm.linux.OwnedFd fd;
        private final io.jvfio.vmm.linux.OwnedFd shrink;

        Bar2From(EduDevice edu, io.jvfio.vmm.linux.OwnedFd fd, io.jvfio.vmm.linux.OwnedFd shrink) {
            super(edu);
            this.fd = fd;
            this.shrink = shrink;
        }

        @Override
        public List<Region> regions() {
            List<Region> rs = new java.util.ArrayList<>(super.regions());
            Region bar2 = rs.get(2);
            rs.set(2, new Region(bar2.flags(), bar2.size(), fd, 0, bar2.capabilities()));
            return rs;
        }

        @Override
        public void write(int region, long offset, io.netty.buffer.ByteBuf src, int count) {
            if (shrink != null && region == 0 && offset == io.jvfio.vfio.devices.EduRegisters.FACTORIAL) {
                io.jvfio.vmm.linux.Syscalls.ftruncate(shrink, 0);
            }
            super.write(region, offset, src, count);
        }
    }

    /** Delegates to edu, but its factorial register reads one too many. */
    private static final class WrongFactorial extends io.jvfio.vfio.emulated.ForwardingDevice {
        WrongFactorial(EduDevice edu) {
            super(edu);
        }

        @Override
        public void read(int region, long offset, io.netty.buffer.ByteBuf dst, int count) {
            if (region == 0 && offset == io.jvfio.vfio.devices.EduRegisters.FACTORIAL && count == 4) {
                io.netty.buffer.ByteBuf real = io.netty.buffer.Unpooled.buffer(4);
                try {
                    super.read(region, offset, real, count);
                    dst.writeIntLE(real.readIntLE() + 1);
                } finally {
                    real.release();
                }
                return;
            }
            super.read(region, offset, dst, count);
        }
    }
}
