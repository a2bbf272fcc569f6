package io.jvfio.vfio.nested;

import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.VirtualInterruptController;
import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.kernel.MigrationDataFd;
import io.jvfio.vfio.kernel.PciSysfs;
import io.jvfio.vfio.kernel.VfioContainer;
import io.jvfio.vfio.kernel.VfioDevice;
import io.jvfio.vfio.kernel.VfioDeviceMigration;
import io.jvfio.vfio.kernel.VfioDeviceName;
import io.jvfio.vfio.kernel.VfioDmaLogging;
import io.jvfio.vfio.migration.MigrationFlags;
import io.jvfio.vfio.migration.MigrationState;
import io.jvfio.vfio.passthrough.PassthroughDevice;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.bus.Bus;
import io.jvfio.vmm.device.AttachedDevices;
import io.jvfio.vmm.device.DeviceRegistry;
import io.jvfio.vmm.options.OptionString;
import io.jvfio.vmm.pci.PciConfigDump;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciHostBridge;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_MIGRATION_P2P;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_MIGRATION_PRE_COPY;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_MIGRATION_STOP_COPY;

/**
 * Runs inside the nested VM (see {@link NestedMttyMigrationTest}), as root: VFIO migration v2 on the
 * kernel's {@code mtty} sample, a mediated device emulating a 16550 UART per port ({@code mtty-2}: two
 * ports, an 8-byte I/O BAR each), attached as a VM attaches it ({@code -device
 * vfio-pci,sysfsdev=/sys/bus/mdev/devices/UUID}) and driven through the guest's I/O ports as a
 * driver would. Device A's UART registers and FIFO bytes are written, A is saved (PRE_COPY, then
 * STOP_COPY), and a second JVM ({@code resume} mode, this class again) attaches device B, loads the
 * stream into it and reads the registers and bytes back. Then the refusals: a device that cannot
 * migrate (edu on vfio-pci), streams of another mtty type, an arc the state machine lacks.
 *
 * <p>What mtty saves (samples/vfio-mdev/mtty.c): a 24-byte header (magic, version, number of ports)
 * and, per port, its eight register bytes, its 16-byte loop-back FIFO with head, tail and count, the
 * DLAB and overrun flags, the divisor, FCR, FIFO size and trigger level; 96 bytes for mtty-2, 60 for
 * mtty-1. It checks the header as it arrives, and the length when RESUMING ends.
 */
public final class MttyMigrationProbe {

    /** The mediated devices the probe creates: A and B of type mtty-2, C of type mtty-1. */
    static final String A = "6c1e6f36-0a5e-4c1e-9a11-00000000000a";
    static final String B = "6c1e6f36-0a5e-4c1e-9a11-00000000000b";
    static final String C = "6c1e6f36-0a5e-4c1e-9a11-00000000000c";
    static final String TYPES = "/sys/class/mdev_bus/mtty/mdev_supported_types/";
    static final String MDEVS = "/sys/bus/mdev/devices/";

    /** Where the guest's driver puts the two ports' BARs. */
    static final int PORT0 = 0xc000;
    static final int PORT1 = 0xc008;

    /** 16550 registers (offsets in a port's BAR), as mtty decodes them. */
    static final int RX_TX = 0;
    static final int IER = 1;
    static final int IIR_FCR = 2;
    static final int LCR = 3;
    static final int MCR = 4;
    static final int LSR = 5;
    static final int MSR = 6;
    static final int SCR = 7;
    static final int LCR_DLAB = 0x80;
    static final int LSR_DR = 0x01;
    static final int LSR_OE = 0x02;
    static final int LSR_THRE = 0x20;
    static final int LSR_TEMT = 0x40;

    /** The bytes the driver leaves in port 0's FIFO. */
    static final byte[] FIFO = "jvfio-mig".getBytes(StandardCharsets.US_ASCII);
    /** mtty's stream header: magic 0x7e9d09898c3e2c4e, version 1.0, then the number of ports and flags. */
    static final long MTTY_MAGIC = 0x7e9d09898c3e2c4eL;
    static final int MTTY2_STREAM = 96;
    static final int MTTY1_STREAM = 60;

    private final NestedVfioProbe probe = new NestedVfioProbe();
    private final AddressSpace space = new AddressSpace();
    private final PciHostBridge bridge = new PciHostBridge(space, PciHostBridge.DEFAULT_ECAM_BASE);

    public static void main(String[] args) throws Exception {
        MttyMigrationProbe p = new MttyMigrationProbe();
        if (args.length > 0 && args[0].equals("resume")) {
            p.resume(args[1]);
        } else {
            p.save();
        }
        System.out.println("JVFIO-RESULT " + (args.length > 0 ? "resume " : "") + p.probe.passed() + " passed, "
                + p.probe.failed() + " failed");
        System.out.flush();
        System.exit(p.probe.failed() == 0 ? 0 : 1);
    }

    // ---- the source: create, drive, save, hand over; then the refusals ----

    private void save() throws Exception {
        PciSysfs sysfs = PciSysfs.system();
        probe.step("mdev-create", () -> {
            NestedVfioProbe.info("mtty types: " + listing(TYPES));
            create("mtty-2", A);
            create("mtty-2", B);
            create("mtty-1", C);
            VfioDeviceName a = sysfs.nameOf(Path.of(MDEVS + A));
            VfioDeviceName b = sysfs.nameOf(Path.of(MDEVS + B));
            probe.check("mdev-create", a.isMdev() && "mtty-2".equals(sysfs.mdevType(a.mdevOrNull()))
                    && "mtty-1".equals(sysfs.mdevType(VfioDeviceName.tryParse(C).mdevOrNull()))
                    && sysfs.iommuGroup(a) != sysfs.iommuGroup(b), "A " + a.describe() + " (" + sysfs.mdevType(a.mdevOrNull())
                    + ", IOMMU group " + sysfs.iommuGroup(a) + ", cdev " + sysfs.vfioCdev(a) + "), B group "
                    + sysfs.iommuGroup(b) + ", C " + sysfs.mdevType(VfioDeviceName.tryParse(C).mdevOrNull()));
        });
        step("bind edu", () -> sysfs.bindToVfioPci(NestedVfioProbe.EDU));

        try (Machine machine = new Machine(sysfs)) {
            AttachedDevices.Attached at = machine.attach("vfio-pci,sysfsdev=" + MDEVS + A + ",addr=06.0");
            VfioDevice a = Machine.backend(at);
            String lspci = PciConfigDump.list(bridge);
            probe.check("mdev-attach", lspci.contains("00:06.0 Serial controller [0700]: Device [4348:3253] (rev 10)")
                    && a.deviceName().isMdev() && a.region(0).size() == 8 && a.region(1).size() == 8,
                    "-device vfio-pci,sysfsdev=" + MDEVS + A + ": " + lspci.replace('\n', ';') + "; " + a);
            guestDriverWrites(at.at());
            String before = snapshot();
            probe.check("guest-writes", before.equals(expectedSnapshot()), "A's UARTs as the driver left them: "
                    + before + (before.equals(expectedSnapshot()) ? "" : ", expected " + expectedSnapshot()));

            VfioContainer container = a.group().container();
            step("type1-dirty-emulated", () -> {
                long dirty = dirtyPages(container);
                probe.check("type1-dirty-emulated", dirty == 0, dirty + " of 4096 pages of guest RAM dirty in a "
                        + "container holding only A's emulated group (Type1 counts what a mediated device pins: mtty "
                        + "pins nothing)");
            });
            step("dma-logging", () -> {
                VfioDmaLogging logging = a.dmaLogging();
                long page = logging.start(4096, List.of(new VfioDmaLogging.Range(0, 16 << 20)));
                long dirty = bits(logging.report(0, 16 << 20, page));
                logging.stop();
                probe.check("dma-logging", page == 4096 && dirty == 0, "A's driver takes DMA_LOGGING_START (page size "
                        + page + "), REPORT (" + dirty + " pages: mtty does no DMA, and its log_ops report nothing) and STOP");
            });
            VfioDeviceMigration am = a.migration();

            byte[] stream = saveA(am);

            // The second process: B attached and loaded from the stream, in another JVM.
            step("second-process", () -> {
                List<String> cmd = new ArrayList<>();
                cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
                cmd.addAll(NestedVm.JVM_OPTIONS);
                cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), MttyMigrationProbe.class.getName(),
                        "resume", HexFormat.of().formatHex(before.getBytes(StandardCharsets.US_ASCII))));
                long start = System.nanoTime();
                Process child = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.INHERIT)
                        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
                try (OutputStream in = child.getOutputStream()) {
                    in.write(stream); // the stream, as a migration channel carries it
                }
                boolean ended = child.waitFor(240, TimeUnit.SECONDS);
                if (!ended) {
                    child.destroyForcibly();
                }
                probe.check("second-process", ended && child.exitValue() == 0, "pid " + child.pid() + " loaded "
                        + stream.length + " bytes into B and " + (ended ? "exited with " + child.exitValue() : "did not end")
                        + " after " + (System.nanoTime() - start) / 1_000_000 + " ms");
            });

            VfioDeviceMigration cm = Machine.backend(machine.attach("vfio-pci,sysfsdev=" + MDEVS + C + ",addr=08.0"))
                    .migration();
            refusals(am, cm, stream);

            VfioDevice edu = Machine.backend(machine.attach("vfio-pci,host=" + NestedVfioProbe.EDU + ",addr=07.0"));
            step("no-migration", () -> {
                try {
                    edu.migration();
                    probe.check("no-migration", false, "edu on vfio-pci offered migration");
                } catch (VfioException.MigrationNotSupported e) {
                    probe.error("no-migration", e);
                    probe.check("no-migration", e.getMessage().startsWith(NestedVfioProbe.EDU + " cannot be migrated: "),
                            "edu refused by name, with the kernel's answer");
                }
            });
            step("edu-dma-logging", () -> {
                try {
                    edu.dmaLogging();
                    probe.check("edu-dma-logging", false, "edu on vfio-pci offered DMA logging");
                } catch (VfioException e) {
                    probe.error("edu-dma-logging", e);
                    probe.check("edu-dma-logging", e.getMessage().contains("ENOTTY"), "the kernel's answer for edu");
                }
            });
            step("type1-dirty-iommu", () -> {
                long dirty = dirtyPages(container);
                probe.check("type1-dirty-iommu", dirty == 4096, dirty + " of 4096 pages of guest RAM dirty once edu's "
                        + "IOMMU-backed group is in the container (Type1 cannot see a device's writes behind an IOMMU, so "
                        + "it reports every mapped page)");
            });
        }
    }

    /** Creates mediated device {@code uuid} of {@code type} (as root, through its type's create file). */
    private static void create(String type, String uuid) throws IOException {
        if (!Files.isDirectory(Path.of(MDEVS + uuid))) {
            Files.writeString(Path.of(TYPES + type + "/create"), uuid);
        }
    }

    private static String listing(String dir) throws IOException {
        try (var s = Files.list(Path.of(dir))) {
            return s.map(p -> p.getFileName().toString()).sorted().toList().toString();
        }
    }

    /**
     * What a driver leaves in the two UARTs: port 0 with its FIFO on (FCR, 16 bytes), 8N1, receive and
     * line-status interrupts enabled, DTR, RTS and OUT2 set, a scratch byte and {@link #FIFO} in its
     * FIFO; port 1 with its FIFO off (one byte deep), two bytes sent (the second overruns), a scratch
     * byte, and its divisor latch open (DLAB) with divisor 0x010c.
     */
    private void guestDriverWrites(PciDevFn at) {
        bridge.configWrite(at.devfn(), 0x10, 4, PORT0);
        bridge.configWrite(at.devfn(), 0x14, 4, PORT1);
        bridge.configWrite(at.devfn(), 0x04, 2, 0x1); // I/O decoding
        Bus pio = space.pio();
        pio.write(PORT0 + IIR_FCR, 1, 0xc7);
        pio.write(PORT0 + LCR, 1, 0x03);
        pio.write(PORT0 + IER, 1, 0x05);
        pio.write(PORT0 + MCR, 1, 0x0b);
        pio.write(PORT0 + SCR, 1, 0xa5);
        for (byte b : FIFO) {
            pio.write(PORT0 + RX_TX, 1, b & 0xff);
        }
        pio.write(PORT1 + IIR_FCR, 1, 0x06);
        pio.write(PORT1 + LCR, 1, 0x1b);
        pio.write(PORT1 + SCR, 1, 0x5a);
        pio.write(PORT1 + RX_TX, 1, 0x42);
        pio.write(PORT1 + RX_TX, 1, 0x43);
        pio.write(PORT1 + LCR, 1, 0x1b | LCR_DLAB);
        pio.write(PORT1 + RX_TX, 1, 0x0c); // divisor latch, low byte
        pio.write(PORT1 + IER, 1, 0x01); // divisor latch, high byte
    }

    /**
     * The registers a read does not change, through the guest's ports: port 0's IER to SCR (its RX would
     * take a byte from the FIFO), and all of port 1's, whose RX and IER read the divisor latch with DLAB set.
     */
    private String snapshot() {
        Bus pio = space.pio();
        StringBuilder s = new StringBuilder("p0");
        for (int reg = IER; reg <= SCR; reg++) {
            s.append(String.format(" %02x", pio.read(PORT0 + reg, 1)));
        }
        s.append(" p1");
        for (int reg = RX_TX; reg <= SCR; reg++) {
            s.append(String.format(" %02x", pio.read(PORT1 + reg, 1)));
        }
        return s.toString();
    }

    /**
     * What {@link #guestDriverWrites} leaves, read as {@link #snapshot} reads it: port 0: IER 05, IIR c4
     * (received data at the trigger level), LCR 03, MCR 0b, LSR 01 (data ready), MSR b3, SCR a5; port 1:
     * divisor 0c 01, IIR c1 (none pending), LCR 9b, MCR 00, LSR 03 (data ready, overrun), MSR b3, SCR 5a.
     */
    private static String expectedSnapshot() {
        return "p0 05 c4 03 0b 01 b3 a5 p1 0c 01 c1 9b 00 03 b3 5a";
    }

    /**
     * A's state, saved the two ways: PRE_COPY first (its initial bytes, VFIO_MIG_GET_PRECOPY_INFO
     * before and after reading them), on into STOP_COPY on the same fd to its end; then, the device
     * back to RUNNING, straight from RUNNING to STOP_COPY. Between the two, STOP_COPY to PRE_COPY is
     * refused before the ioctl. Both streams must be the same bytes.
     */
    private byte[] saveA(VfioDeviceMigration am) {
        byte[][] streams = new byte[2][];
        step("migration-probe", () -> {
            int flags = am.flags();
            long size = am.stopCopyLength();
            probe.check("migration-probe", flags == (VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P
                    | VFIO_MIGRATION_PRE_COPY) && am.state() == MigrationState.RUNNING && size == MTTY2_STREAM,
                    "A offers " + MigrationFlags.describe(flags) + ", is " + am.state() + ", STOP_COPY would read "
                    + size + " bytes (VFIO_DEVICE_FEATURE_MIG_DATA_SIZE)");
        });
        step("precopy", () -> {
            MigrationDataFd fd = am.setState(MigrationState.PRE_COPY);
            MigrationDataFd.PrecopyInfo first = fd.precopyInfo();
            byte[] initial = fd.readAll();
            MigrationDataFd.PrecopyInfo after = fd.precopyInfo();
            probe.check("precopy", fd.session() == MigrationState.PRE_COPY && first.initialBytes() == 24
                    && first.dirtyBytes() == 0 && initial.length == 24 && after.initialBytes() == 0
                    && after.dirtyBytes() == 0, "RUNNING -> PRE_COPY gave " + fd + "; VFIO_MIG_GET_PRECOPY_INFO: "
                    + first + " before reading, " + after + " after " + initial.length + " bytes (mtty's header; "
                    + "its temporary end of stream is a read of 0, where linux/vfio.h asks for ENOMSG)");
            MigrationDataFd again = am.setState(MigrationState.STOP_COPY);
            byte[] rest = fd.readAll();
            streams[0] = concat(initial, rest);
            probe.check("precopy-stop-copy", again == null && fd.session() == MigrationState.STOP_COPY
                    && streams[0].length == MTTY2_STREAM, "PRE_COPY -> STOP_COPY continued the same fd (no new one): "
                    + rest.length + " more bytes to its end, " + streams[0].length + " in all");
            fd.close();
        });
        step("stop-copy-to-pre-copy", () -> {
            try {
                am.setState(MigrationState.PRE_COPY);
                probe.check("stop-copy-to-pre-copy", false, "STOP_COPY -> PRE_COPY was asked of the kernel");
            } catch (VfioException e) {
                probe.error("stop-copy-to-pre-copy", e);
                probe.check("stop-copy-to-pre-copy", !(e instanceof VfioException.MigrationFailed)
                        && e.getMessage().contains("no migration arc leads from STOP_COPY to PRE_COPY")
                        && am.state() == MigrationState.STOP_COPY, "refused before the ioctl; A is still " + am.state());
            }
        });
        step("stop-copy", () -> {
            am.setState(MigrationState.RUNNING);
            MigrationState running = am.state();
            try (MigrationDataFd fd = am.setState(MigrationState.STOP_COPY)) {
                streams[1] = fd.readAll();
            }
            ByteBuffer b = ByteBuffer.wrap(streams[1]).order(ByteOrder.LITTLE_ENDIAN);
            probe.check("stop-copy", running == MigrationState.RUNNING && streams[1].length == MTTY2_STREAM
                    && b.getLong(0) == MTTY_MAGIC && b.getInt(16) == 2 && Arrays.equals(streams[0], streams[1]),
                    "RUNNING -> STOP_COPY: " + streams[1].length + " bytes to the end of stream (magic 0x"
                    + Long.toHexString(b.getLong(0)) + ", " + b.getInt(16) + " ports), the same bytes as by PRE_COPY: "
                    + HexFormat.of().formatHex(streams[1]));
        });
        return streams[1] != null ? streams[1] : new byte[0];
    }

    /**
     * The loads a device must refuse, each with what the kernel answered and the state left: mtty-1's
     * stream into an mtty-2 (A), mtty-2's into an mtty-1 (C), and leaving RESUMING with what was not a
     * whole state; then VFIO_DEVICE_RESET brings each back to RUNNING.
     */
    private void refusals(VfioDeviceMigration am, VfioDeviceMigration cm, byte[] mtty2Stream) {
        step("wrong-type", () -> {
            byte[] mtty1Stream;
            try (MigrationDataFd fd = cm.setState(MigrationState.STOP_COPY)) {
                mtty1Stream = fd.readAll();
            }
            cm.setState(MigrationState.RUNNING);
            try (MigrationDataFd fd = am.setState(MigrationState.RESUMING)) {
                fd.write(mtty1Stream);
                probe.check("wrong-type", false, "A (mtty-2) took C's " + mtty1Stream.length + "-byte mtty-1 stream");
            } catch (VfioException.MigrationFailed e) {
                probe.error("wrong-type", e);
                probe.check("wrong-type", mtty1Stream.length == MTTY1_STREAM && e.getMessage().contains("EFAULT")
                        && am.state() == MigrationState.RESUMING, "C's " + mtty1Stream.length + "-byte mtty-1 stream "
                        + "refused by A (mtty-2) as it was written; A is " + am.state());
            }
            try {
                am.setState(MigrationState.RUNNING);
                probe.check("incomplete", false, "A left RESUMING with a refused stream");
            } catch (VfioException.MigrationFailed e) {
                probe.error("incomplete", e);
                probe.check("incomplete", "RESUMING".equals(e.leftIn()) && e.getMessage().contains("EINVAL"),
                        "leaving RESUMING without a whole state is refused; A is left in " + e.leftIn());
            }
            am.reset();
            probe.check("reset", am.state() == MigrationState.RUNNING, "VFIO_DEVICE_RESET: A is " + am.state());
        });
        step("wrong-type-larger", () -> {
            try (MigrationDataFd fd = cm.setState(MigrationState.RESUMING)) {
                fd.write(mtty2Stream);
                probe.check("wrong-type-larger", false, "C (mtty-1) took A's mtty-2 stream");
            } catch (VfioException.MigrationFailed e) {
                probe.error("wrong-type-larger", e);
                probe.check("wrong-type-larger", e.getMessage().contains("ENOMEM"), "A's " + mtty2Stream.length
                        + "-byte stream refused by C (mtty-1), larger than its state");
            }
            cm.reset();
            probe.check("reset-c", cm.state() == MigrationState.RUNNING, "VFIO_DEVICE_RESET: C is " + cm.state());
        });
    }

    // ---- the destination: a second process ----

    /** B attached as the source attached A, the stream on stdin loaded, its registers and FIFO read back. */
    private void resume(String sourceSnapshotHex) throws Exception {
        String sourceSnapshot = new String(HexFormat.of().parseHex(sourceSnapshotHex), StandardCharsets.US_ASCII);
        byte[] stream = System.in.readAllBytes();
        try (Machine machine = new Machine(PciSysfs.system())) {
            AttachedDevices.Attached at = machine.attach("vfio-pci,sysfsdev=" + MDEVS + B + ",addr=06.0");
            VfioDevice b = Machine.backend(at);
            VfioDeviceMigration bm = b.migration();
            step("resume-load", () -> {
                long written;
                try (MigrationDataFd fd = bm.setState(MigrationState.RESUMING)) {
                    written = fd.write(stream);
                    bm.setState(MigrationState.RUNNING); // RESUMING -> STOP (the load) -> RUNNING_P2P -> RUNNING
                }
                probe.check("resume-load", written == MTTY2_STREAM && bm.state() == MigrationState.RUNNING,
                        "pid " + ProcessHandle.current().pid() + ": " + written + " bytes written into B (RESUMING), "
                        + "B is " + bm.state());
            });
            bridge.configWrite(at.at().devfn(), 0x10, 4, PORT0);
            bridge.configWrite(at.at().devfn(), 0x14, 4, PORT1);
            bridge.configWrite(at.at().devfn(), 0x04, 2, 0x1);
            step("resume-registers", () -> {
                String now = snapshot();
                probe.check("resume-registers", now.equals(sourceSnapshot), "B's UARTs: " + now + "; A's were "
                        + sourceSnapshot);
            });
            step("resume-stream", () -> {
                byte[] again;
                try (MigrationDataFd fd = bm.setState(MigrationState.STOP_COPY)) {
                    again = fd.readAll();
                }
                bm.setState(MigrationState.RUNNING);
                probe.check("resume-stream", Arrays.equals(again, stream), "B saved again: " + again.length + " bytes, "
                        + (Arrays.equals(again, stream) ? "the same as A's" : "not A's: " + HexFormat.of().formatHex(again)));
            });
            step("resume-fifo", () -> {
                Bus pio = space.pio();
                byte[] got = new byte[FIFO.length];
                int n = 0;
                while (n < 16 && (pio.read(PORT0 + LSR, 1) & LSR_DR) != 0) {
                    byte next = (byte) pio.read(PORT0 + RX_TX, 1);
                    if (n < got.length) {
                        got[n] = next;
                    }
                    n++;
                }
                long lsr0 = pio.read(PORT0 + LSR, 1);
                pio.write(PORT1 + LCR, 1, 0x1b); // DLAB off: RX is the FIFO again
                long p1 = pio.read(PORT1 + RX_TX, 1);
                long lsr1 = pio.read(PORT1 + LSR, 1);
                probe.check("resume-fifo", n == FIFO.length && Arrays.equals(got, FIFO)
                        && lsr0 == (LSR_THRE | LSR_TEMT) && p1 == 0x42 && lsr1 == (LSR_THRE | LSR_TEMT | LSR_OE),
                        String.format("port 0's FIFO gave %d bytes \"%s\", then LSR 0x%02x; port 1's gave 0x%02x, then "
                                + "LSR 0x%02x (overrun kept)", n, new String(got, StandardCharsets.US_ASCII), lsr0, p1, lsr1));
            });
        }
    }

    /**
     * The machine both processes build, as the launcher builds it: 16 MiB of guest RAM at 0, an
     * interrupt router, this VM's sysfs, and devices attached behind the probe's host bridge by their
     * {@code -device} option.
     */
    private final class Machine implements AutoCloseable {
        private final DeviceRegistry registry = DeviceRegistry.load();
        private final GuestMemory memory = new GuestMemory();
        private final InterruptRouter router = new InterruptRouter(new VirtualInterruptController(1));
        private final AttachedDevices devices = new AttachedDevices(space, bridge);

        Machine(PciSysfs sysfs) {
            devices.provide(GuestMemory.class, memory).provide(InterruptRouter.class, router)
                    .provide(PciSysfs.class, sysfs);
            memory.addRegion("ram", 0, MemoryBackend.memfd("ram", 16 << 20, false));
        }

        AttachedDevices.Attached attach(String option) {
            return devices.attach(registry.configure(OptionString.parse(option, "driver")));
        }

        static VfioDevice backend(AttachedDevices.Attached at) {
            return (VfioDevice) ((PassthroughDevice) at.function()).backend();
        }

        @Override
        public void close() {
            try {
                devices.close();
            } finally {
                try {
                    router.close();
                } finally {
                    memory.close();
                }
            }
        }
    }

    private void step(String name, NestedVfioProbe.Step s) {
        probe.step(name, s);
    }

    /** Type1's count of dirty pages of guest RAM, tracking started and stopped around one GET_BITMAP. */
    private static long dirtyPages(VfioContainer container) {
        container.dirtyPagesStart();
        try {
            return bits(container.dirtyBitmap(0, 16 << 20));
        } finally {
            container.dirtyPagesStop();
        }
    }

    private static long bits(long[] words) {
        long n = 0;
        for (long w : words) {
            n += Long.bitCount(w);
        }
        return n;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
