package io.jvfio.launcher;

import io.jvfio.memory.MemoryBackendConfig;
import io.jvfio.migration.MigrationUri;
import io.jvfio.qmp.MonitorOptions;
import io.jvfio.vmm.migration.MigrationException;
import io.jvfio.qmp.QmpChardev;
import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.kernel.IommuGroupReport;
import io.jvfio.vfio.kernel.IommufdConfig;
import io.jvfio.vfio.kernel.IommufdObjects;
import io.jvfio.vfio.kernel.PciSysfs;
import io.jvfio.vfio.user.transport.ConnectionLimits;
import io.jvfio.vmm.device.DeviceConfig;
import io.jvfio.vmm.device.DeviceRegistry;
import io.jvfio.kvm.Kvm;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.options.OptionString;
import io.jvfio.vmm.options.OptionValues;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.options.Property;
import io.jvfio.vmm.pci.PciAddress;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The {@code jvfio} command line, in QEMU's style: single-dash long options ({@code -device},
 * {@code -m}; a double dash works too), each value in QemuOpts syntax. Help requests
 * ({@code -device help}) are answered as soon as they are met, as QEMU does.
 */
final class CommandLine {

    /** What the command line asks for. */
    sealed interface Command permits ShowText, Launch, Serve {
    }

    /** Print this text and exit successfully (help, version, a listing). */
    record ShowText(String text) implements Command {
    }

    /** Run a VM. */
    record Launch(MachineConfig config) implements Command {
    }

    /** Serve a device written in Java over vfio-user, standalone, until stopped, holding each client to {@code limits}. */
    record Serve(String device, Path socket, ConnectionLimits limits) implements Command {
        Serve(String device, Path socket) {
            this(device, socket, ConnectionLimits.DEFAULTS);
        }
    }

    /** The devices {@code --serve} can host. */
    static final List<String> SERVABLE = List.of("edu", "gpio", "tiny", "nobar");
    private static final Property SERVE_DEVICE = Property.choice("device", SERVABLE, null,
            "The device to serve: edu (QEMU's edu, with MSI-X and a memfd BAR2), gpio (an I/O BAR and INTx), "
                    + "tiny (a 256-byte memory BAR), nobar (no BARs)");
    private static final Property SERVE_SOCKET = Property.string("socket",
            "Path of the UNIX socket to listen on");
    private static final Property SERVE_NEGOTIATION_TIMEOUT = Property.integer("x-negotiation-timeout", 1,
            ConnectionLimits.MAX_TIMEOUT_MILLIS, ConnectionLimits.DEFAULTS.negotiationTimeoutMillis(),
            "Milliseconds a client has from connecting to complete VFIO_USER_VERSION, else it is dropped "
                    + "(clients are served one at a time, and the next waits)");
    private static final Property SERVE_MESSAGE_TIMEOUT = Property.integer("x-message-timeout", 1,
            ConnectionLimits.MAX_TIMEOUT_MILLIS, ConnectionLimits.DEFAULTS.messageTimeoutMillis(),
            "Milliseconds a message has to arrive whole once its first byte has; an idle client is not timed");
    private static final Property SERVE_MAX_QUEUED_OUTPUT = Property.size("x-max-queued-output", 1,
            ConnectionLimits.DEFAULTS.maxQueuedOutput(),
            "Bytes of replies held for a client that does not read them; near it, the client's requests wait");
    private static final Property SERVE_WRITE_STALL_TIMEOUT = Property.integer("x-write-stall-timeout", 1,
            ConnectionLimits.MAX_TIMEOUT_MILLIS, ConnectionLimits.DEFAULTS.writeStallTimeoutMillis(),
            "Milliseconds queued replies may go unread before the client is dropped");
    private static final Property SERVE_MAX_DMA_MAPPED = Property.size("x-max-dma-mapped", 1,
            ConnectionLimits.DEFAULTS.maxDmaMapped(),
            "Bytes of DMA windows a client may have mapped in the server at once; over it DMA_MAP gets ENOMEM");

    static final long DEFAULT_MEMORY = 64L << 20;

    /** Guest RAM KVM can hold, 8T: 3 GiB below 4 GiB and the rest in one slot of at most KvmVm.MAX_SLOT_PAGES. */
    static final long KVM_MAX_RAM = (io.jvfio.kvm.KvmVm.MAX_SLOT_PAGES + 1) * 4096;

    private static final Property MEMORY_SIZE = Property.size("size", 1L << 20, null,
            "Guest RAM; a number without suffix counts MiB");
    private static final Property ACCEL = Property.choice("accel", List.of("kvm", "none"), null,
            "Run the guest on KVM, or drive the device from the host side");
    private static final Property NAME = Property.string("guest", "The VM's name");
    /** The most local APICs the x86 xAPIC ID (8 bits, 0xff being broadcast) can address. */
    static final int MAX_CPUS = 255;
    private static final Property SMP_CPUS = Property.integer("cpus", 1, MAX_CPUS, null,
            "The number of vCPUs (each a thread of its own)");
    private static final Property MACHINE_TYPE = Property.choice("type", List.of("pc"), "pc", "The machine type");
    private static final Property MEMORY_BACKEND = Property.string("memory-backend",
            "The id of the -object memory backend that holds guest RAM");

    private final DeviceRegistry devices;

    CommandLine(DeviceRegistry devices) {
        this.devices = devices;
    }

    static String usage() {
        return """
                Usage: jvfio [options]

                PCI device passthrough for a Java virtual machine monitor: hands a host PCI device
                (kernel VFIO) or a vfio-user device to a guest, and runs a built-in driver against the
                first -device (on a KVM vCPU, or from the host with -accel none), reporting each step.
                With no -device, the device is edu, written in Java and served over vfio-user.

                Options (QEMU's syntax; --option works as well as -option):
                  -m [size=]SIZE        guest RAM, e.g. 64M or 1G; a number without suffix counts MiB
                                        (default: 64M), in a memfd
                  -object memory-backend-memfd,id=ID,size=SIZE[,hugetlb=on]
                  -object memory-backend-file,id=ID,size=SIZE,mem-path=DIR
                                        a memory backend for guest RAM (hugetlbfs, huge pages)
                  -object iommufd,id=ID[,fd=N]
                                        an iommufd (/dev/iommu, or fd N passed open) for
                                        -device vfio-pci,...,iommufd=ID: the device is bound
                                        through its cdev (/dev/vfio/devices/vfioN) instead of its
                                        VFIO group, into one IOMMU address space per iommufd
                  -machine [type=]pc[,memory-backend=ID]
                                        the machine; memory-backend= puts guest RAM in that object
                  -device DRIVER[,PROP=VALUE,...]
                                        add a device; repeatable. '-device help' lists the drivers,
                                        '-device DRIVER,help' the properties of one
                  -accel [accel=]kvm|none
                                        run the guest on KVM, or without a vCPU, driving the device
                                        from a host-side driver (default: kvm when /dev/kvm is usable)
                  -enable-kvm           the same as -accel kvm
                  -smp [cpus=]N         N vCPUs (default: 1); the driver's interrupt steps run once per
                                        vCPU, aimed at its local APIC
                  -name [guest=]NAME    the VM's name, shown in messages
                  -qmp unix:PATH,server=on,wait=off | -qmp stdio
                                        a QMP monitor (QEMU's protocol) on a UNIX socket or on standard
                                        input and output, open from the machine's start; the machine
                                        then keeps running after the driver's steps until a monitor's
                                        quit (or a signal); repeatable
                  -chardev socket,id=ID,path=PATH,server=on,wait=off | -chardev stdio,id=ID
                  -mon [chardev=]ID[,mode=control]
                                        the same, in QEMU's long form: a chardev, and a QMP monitor on it
                                        (jvfio has no human monitor: mode=readline is refused)
                  -incoming unix:PATH | -incoming file:PATH | -incoming defer
                                        take the machine's state from a live migration before it runs:
                                        listen on a UNIX socket for a jvfio source's 'migrate', read a
                                        file it wrote, or wait for QMP 'migrate-incoming' (defer); the
                                        same RAM, vCPUs and devices (same ids, same order) as the source
                  --serve [device=]edu|gpio|tiny|nobar,socket=PATH
                                        serve a device written in Java over vfio-user on a UNIX socket
                                        until SIGTERM or Ctrl-C, for -device vfio-user-pci; alone.
                                        '--serve help' describes the devices. A client is dropped
                                        (and the next served) if VERSION takes longer than
                                        x-negotiation-timeout=MS, a message arrives part-way for
                                        x-message-timeout=MS, or replies held up to
                                        x-max-queued-output=SIZE go unread for x-write-stall-timeout=MS
                                        (defaults 10000, 10000, 4M, 10000). Its DMA windows mapped at
                                        once are bounded by x-max-dma-mapped=SIZE (default 1T;
                                        ENOMEM over it)
                  --iommu-groups        list the IOMMU groups, their devices and drivers, and what must
                                        happen before each can be passed through
                  --vfio-bind DDDD:BB:DD.F
                                        bind a host device to vfio-pci (needs root)
                  -h, --help            this help
                  --version             version information

                Exit status: 0 every step passed (or was skipped, with the reason); 1 bad options, or a
                machine or device that cannot be set up; 3 a step failed.

                Examples:
                  jvfio                 the main job: the guest driver on KVM against the edu device
                  jvfio -accel none     the same steps from a host-side driver, without KVM
                  jvfio -device help
                  jvfio -m 512M -device vfio-pci,host=0000:01:00.0,addr=04.0
                  jvfio -object iommufd,id=i0 -device vfio-pci,host=0000:01:00.0,iommufd=i0
                  jvfio -accel none -device vfio-pci,host=0000:01:00.0,x-no-iommu=on
                                        UNSAFE: a device of VFIO's no-IOMMU mode, for the
                                        host-side driver only (see README, No-IOMMU mode)
                  jvfio -object memory-backend-memfd,id=ram0,size=1G,hugetlb=on -machine memory-backend=ram0
                  jvfio --serve edu,socket=/tmp/edu.sock
                  jvfio -device vfio-user-pci,socket=/tmp/edu.sock
                """;
    }

    Command parse(String[] args) throws UsageException {
        Long memory = null;
        String accel = null;
        String name = null;
        Integer cpus = null;
        String memoryBackend = null;
        MonitorOptions monitors = new MonitorOptions();
        String incoming = null;
        Map<String, MemoryBackendConfig> objects = new LinkedHashMap<>();
        Map<String, IommufdConfig> iommufds = new LinkedHashMap<>();
        List<DeviceConfig> configs = new ArrayList<>();
        Set<String> ids = new HashSet<>();

        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (!arg.startsWith("-") || arg.equals("-") || arg.equals("--")) {
                throw new UsageException("unexpected argument '" + arg + "': options start with '-' "
                        + "(jvfio --help lists them)");
            }
            String option = arg.startsWith("--") ? arg.substring(1) : arg;
            switch (option) {
                case "-h", "-help" -> {
                    return new ShowText(usage());
                }
                case "-version" -> {
                    return new ShowText(Version.describe());
                }
                case "-enable-kvm" -> accel = once(arg, accel, "kvm");
                case "-iommu-groups" -> {
                    return new ShowText(IommuGroupReport.render(PciSysfs.system()));
                }
                case "-serve" -> {
                    if (i + 1 >= args.length) {
                        throw new UsageException(arg + ": requires an argument, e.g. " + arg
                                + " edu,socket=/tmp/edu.sock");
                    }
                    String value = args[++i];
                    Command serve = serve(arg, value);
                    if (serve instanceof Serve && args.length != 2) {
                        throw new UsageException(arg + " runs a vfio-user device server and takes no other options; "
                                + "start the VM in another jvfio with -device vfio-user-pci,socket=PATH");
                    }
                    return serve;
                }
                case "-vfio-bind" -> {
                    if (i + 1 >= args.length) {
                        throw new UsageException(arg + ": requires an argument (a host PCI address, e.g. 0000:01:00.0)");
                    }
                    return new ShowText(bind(arg, args[++i]));
                }
                case "-m", "-device", "-accel", "-name", "-smp", "-object", "-machine", "-M", "-qmp", "-chardev",
                        "-mon", "-incoming" -> {
                    if (i + 1 >= args.length) {
                        throw new UsageException(arg + ": requires an argument (jvfio --help shows its form)");
                    }
                    String value = args[++i];
                    try {
                        switch (option) {
                            case "-m" -> memory = once(arg, memory, memory(value));
                            case "-accel" -> {
                                OptionString s = OptionString.parse(value, "accel");
                                if (s.helpRequested()) {
                                    return new ShowText("Accelerators supported in jvfio:\nkvm\nnone\n");
                                }
                                accel = once(arg, accel, single(s, "-accel", ACCEL).string("accel"));
                            }
                            case "-name" -> name = once(arg, name, guestName(value));
                            case "-qmp" -> monitors.qmp(value);
                            case "-chardev" -> monitors.chardev(value);
                            case "-mon" -> monitors.mon(value);
                            case "-incoming" -> incoming = once(arg, incoming, incoming(value));
                            case "-smp" -> cpus = once(arg, cpus, (int) single(OptionString.parse(value, "cpus"), "-smp",
                                    SMP_CPUS).number("cpus"));
                            case "-object" -> {
                                OptionString s = OptionString.parse(value, MemoryBackendConfig.IMPLIED_KEY);
                                if (s.helpRequested()) {
                                    return new ShowText("List of user creatable objects:\n  iommufd\n"
                                            + "  memory-backend-file\n  memory-backend-memfd\n");
                                }
                                String id;
                                boolean fresh;
                                if (IommufdConfig.TYPE.equals(s.impliedValue())) {
                                    IommufdConfig o = IommufdConfig.parse(s);
                                    id = o.id();
                                    fresh = !objects.containsKey(id) && iommufds.putIfAbsent(id, o) == null;
                                } else {
                                    MemoryBackendConfig o = MemoryBackendConfig.parse(s);
                                    id = o.id();
                                    fresh = !iommufds.containsKey(id) && objects.putIfAbsent(id, o) == null;
                                }
                                if (!fresh) {
                                    throw new OptionsException("Duplicate ID '" + id + "' for object");
                                }
                            }
                            case "-machine", "-M" -> {
                                OptionString s = OptionString.parse(value, "type");
                                if (s.helpRequested()) {
                                    return new ShowText("Supported machines are:\n"
                                            + "pc                   x86 PC: RAM below 3 GiB and from 4 GiB, a PCI host "
                                            + "bridge (default)\n");
                                }
                                OptionValues v = OptionValues.bind("-machine", List.of(MACHINE_TYPE, MEMORY_BACKEND), s,
                                        Set.of(), OptionValues.UnknownKey.PARAMETER);
                                if (v.has("memory-backend") && v.string("memory-backend").isEmpty()) {
                                    throw new OptionsException("Parameter 'memory-backend' expects the id of a memory "
                                            + "backend (e.g. memory-backend=ram0, with -object memory-backend-memfd,"
                                            + "id=ram0,size=SIZE)");
                                }
                                memoryBackend = once(arg, memoryBackend, v.has("memory-backend")
                                        ? v.string("memory-backend") : "");
                            }
                            default -> {
                                OptionString s = OptionString.parse(value, "driver");
                                String help = devices.help(s);
                                if (help != null) {
                                    return new ShowText(help);
                                }
                                DeviceConfig c = devices.configure(s);
                                if (c.id() != null && !ids.add(c.id())) {
                                    throw new OptionsException("Duplicate ID '" + c.id() + "' for device");
                                }
                                configs.add(c);
                            }
                        }
                    } catch (OptionsException e) {
                        throw new UsageException(arg + " " + value + ": " + e.getMessage());
                    }
                }
                default -> throw new UsageException(arg + ": invalid option (jvfio --help lists the options)");
            }
        }
        for (DeviceConfig c : configs) {
            // iommufd= is a link to an -object, as in QEMU: checked once every -object is known.
            if (c.properties().values().get("iommufd") instanceof String iommufd && !iommufds.containsKey(iommufd)) {
                throw new UsageException("-device " + c + ": " + IommufdObjects.noSuchObject(iommufd,
                        List.copyOf(iommufds.keySet())));
            }
        }
        List<QmpChardev> monitorChardevs;
        try {
            monitorChardevs = monitors.monitors();
        } catch (OptionsException e) {
            throw new UsageException(e.getMessage());
        }
        boolean chosen = accel != null;
        Accelerator accelerator = chosen ? Accelerator.of(accel) : (Kvm.problem() == null ? Accelerator.KVM
                : Accelerator.NONE);
        if (chosen && accelerator == Accelerator.KVM) {
            String problem = Kvm.problem();
            if (problem != null) {
                throw new UsageException("-accel kvm: Could not access KVM kernel module: " + problem
                        + "; use -accel none, or load the kvm module and give this user read and write access to "
                        + Kvm.DEVICE);
            }
        }
        if (cpus != null && accelerator == Accelerator.KVM) {
            try (Kvm kvm = Kvm.open()) {
                kvm.checkVcpus(cpus);
            } catch (IllegalArgumentException e) {
                throw new UsageException("-smp " + value(args, "-smp") + ": " + e.getMessage());
            }
        }
        MemoryBackendConfig ram = ram(memory, memoryBackend, objects);
        if (accelerator == Accelerator.KVM && ram.size() > KVM_MAX_RAM) {
            throw new UsageException((memory != null ? "-m " + value(args, "-m") : "-object " + ram) + ": KVM takes at "
                    + "most 8T of guest RAM (the RAM above 4 GiB is one memory slot, and a slot holds at most 2^31 - 1 "
                    + "pages, KVM_MEM_MAX_NR_PAGES); use -m 8T or less");
        }
        return new Launch(new MachineConfig(ram, accelerator, chosen, name, cpus == null ? 1 : cpus, configs,
                List.copyOf(iommufds.values()), monitorChardevs, incoming));
    }

    private static Command serve(String option, String value) throws UsageException {
        try {
            OptionString s = OptionString.parse(value, "device");
            if (s.helpRequested()) {
                return new ShowText("Devices jvfio can serve over vfio-user:\n"
                        + "name \"edu\", desc \"QEMU's edu device (1234:11e8) with MSI-X and a 1 MiB memfd BAR2\"\n"
                        + "name \"gpio\", desc \"a GPIO-like card (1234:10f0): a 16-port I/O BAR0 and INTx, no MSI\"\n"
                        + "name \"tiny\", desc \"a device with a 256-byte memory BAR0 (1234:10f1), trapped\"\n"
                        + "name \"nobar\", desc \"a function with no BARs and no interrupt (1234:10f2)\"\n");
            }
            OptionValues v = OptionValues.bind("--serve", List.of(SERVE_DEVICE, SERVE_SOCKET, SERVE_NEGOTIATION_TIMEOUT,
                    SERVE_MESSAGE_TIMEOUT, SERVE_MAX_QUEUED_OUTPUT, SERVE_WRITE_STALL_TIMEOUT, SERVE_MAX_DMA_MAPPED), s,
                    Set.of(), OptionValues.UnknownKey.PARAMETER);
            if (!v.has("device")) {
                throw new OptionsException("Parameter 'device' is missing (" + String.join(", ", SERVABLE) + ")");
            }
            if (!v.has("socket") || v.string("socket").isEmpty()) {
                throw new OptionsException("Parameter 'socket' is missing: give the path to listen on, e.g. "
                        + "socket=/tmp/edu.sock");
            }
            ConnectionLimits limits;
            try {
                limits = new ConnectionLimits(v.number(SERVE_NEGOTIATION_TIMEOUT.name()),
                        v.number(SERVE_MESSAGE_TIMEOUT.name()), v.number(SERVE_MAX_QUEUED_OUTPUT.name()),
                        v.number(SERVE_WRITE_STALL_TIMEOUT.name()), v.number(SERVE_MAX_DMA_MAPPED.name()));
            } catch (IllegalArgumentException e) {
                throw new OptionsException(e.getMessage());
            }
            return new Serve(v.string("device"), Path.of(v.string("socket")), limits);
        } catch (OptionsException e) {
            throw new UsageException(option + " " + value + ": " + e.getMessage());
        }
    }

    private static String bind(String option, String bdf) throws UsageException {
        PciAddress a = PciAddress.tryParse(bdf);
        if (a == null) {
            throw new UsageException(option + " " + bdf + ": expects a PCI host address [DDDD:]BB:DD.F, as lspci -D "
                    + "prints it");
        }
        try {
            String before = PciSysfs.system().bindToVfioPci(a);
            return a + " is bound to vfio-pci" + (before == null ? "" : " (it was bound to " + before + ")") + "\n";
        } catch (VfioException e) {
            throw new UsageException(option + " " + bdf + ": " + e.getMessage());
        }
    }

    /** Guest RAM: the backend -machine names (whose size -m may repeat), else a memfd of -m's size. */
    private static MemoryBackendConfig ram(Long memory, String backendId, Map<String, MemoryBackendConfig> objects)
            throws UsageException {
        MemoryBackendConfig ram;
        if (backendId != null && !backendId.isEmpty()) {
            ram = objects.get(backendId);
            if (ram == null) {
                throw new UsageException("-machine memory-backend=" + backendId + ": there is no memory backend '"
                        + backendId + "'" + (objects.isEmpty() ? "; create it with -object memory-backend-memfd,id="
                        + backendId + ",size=SIZE" : " (the memory backends are " + String.join(", ", objects.keySet())
                        + ")"));
            }
            if (memory != null && memory != ram.size()) {
                throw new UsageException("-m " + (memory >> 20) + "M does not match the size of memory backend '"
                        + backendId + "' (" + (ram.size() >> 20) + "M); drop -m or make them equal");
            }
        } else {
            ram = MemoryBackendConfig.ram(memory != null ? memory : DEFAULT_MEMORY);
        }
        for (MemoryBackendConfig o : objects.values()) {
            if (o != ram) {
                throw new UsageException("-object " + o + ": memory backend '" + o.id() + "' is not used; give it to "
                        + "the machine with -machine memory-backend=" + o.id());
            }
        }
        return ram;
    }

    /** The value given to {@code option} (in either spelling), for messages. */
    private static String value(String[] args, String option) {
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals(option) || args[i].equals("-" + option)) {
                return args[i + 1];
            }
        }
        return "";
    }

    /** {@code -incoming}'s value: {@code defer}, or a URI jvfio can take (QEMU's errors for another). */
    private static String incoming(String value) {
        if (!value.equals(MigrationUri.DEFER)) {
            try {
                MigrationUri.parse(value);
            } catch (MigrationException e) {
                throw new OptionsException(e.getMessage());
            }
        }
        return value;
    }

    private static <T> T once(String option, T previous, T value) throws UsageException {
        if (previous != null) {
            throw new UsageException(option + " is given twice; give it once");
        }
        return value;
    }

    private static OptionValues single(OptionString s, String owner, Property p) {
        OptionValues v = OptionValues.bind(owner, List.of(p), s, Set.of(), OptionValues.UnknownKey.PARAMETER);
        if (!v.has(p.name())) {
            throw new OptionsException("Parameter '" + p.name() + "' is missing");
        }
        return v;
    }

    private static long memory(String value) {
        long size = single(OptionString.parse(value, "size"), "-m", MEMORY_SIZE).number("size");
        if (size < (1L << 20)) {
            throw new OptionsException("Parameter 'size' expects at least 1M of guest RAM");
        }
        if (size % Syscalls.pageSize() != 0) {
            throw new OptionsException("Parameter 'size' expects a multiple of the page size ("
                    + Syscalls.pageSize() + " bytes)");
        }
        return size;
    }

    private static String guestName(String value) {
        String n = single(OptionString.parse(value, "guest"), "-name", NAME).string("guest");
        if (n.isEmpty()) {
            throw new OptionsException("Parameter 'guest' expects a non-empty name");
        }
        return n;
    }
}
