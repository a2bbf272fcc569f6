package io.jvfio.vfio.nested;

import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.MsiMessage;
import io.jvfio.irq.RouteKind;
import io.jvfio.irq.VirtualInterruptController;
import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vfio.RegionCapability;
import io.jvfio.vfio.kernel.IommuAddressSpace;
import io.jvfio.vfio.kernel.IommuInfo;
import io.jvfio.vfio.kernel.Iommufd;
import io.jvfio.vfio.kernel.IommufdIoas;
import io.jvfio.vfio.kernel.KernelVfio;
import io.jvfio.vfio.kernel.PassedFd;
import io.jvfio.vfio.kernel.VfioContainer;
import io.jvfio.vfio.kernel.VfioDevice;
import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.kernel.VfioGroup;
import io.jvfio.vfio.VfioIrq;
import io.jvfio.vfio.VfioRegion;
import io.jvfio.vfio.kernel.IommuGroupReport;
import io.jvfio.vfio.kernel.PciSysfs;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.MemoryMapping;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.pci.PciAddress;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

import static io.jvfio.vmm.linux.jna.LinuxConstants.O_RDWR;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSIX_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSI_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_TYPE1v2_IOMMU;

/**
 * Runs inside the nested VM (see {@link NestedVfioTest}), as root, against the guest kernel's real
 * VFIO and QEMU's emulated devices, through jvfio's own API. One line per check on stdout:
 * {@code JVFIO-CHECK name PASS|FAIL detail}; error texts as {@code JVFIO-ERROR name text}.
 */
public final class NestedVfioProbe {

    static final PciAddress EDU = PciAddress.tryParse("0000:00:08.0");
    static final PciAddress IVSHMEM = PciAddress.tryParse("0000:00:09.0");
    static final PciAddress NVME = PciAddress.tryParse("0000:00:0a.0");
    static final PciAddress EDU_BEHIND_BRIDGE = PciAddress.tryParse("0000:01:01.0");
    static final PciAddress EDU_ALONE_ON_A_BUS = PciAddress.tryParse("0000:02:01.0");
    /** QEMU's pci-serial, alone in its group: an 8-byte I/O BAR and INTx, nothing else. */
    static final PciAddress SERIAL = PciAddress.tryParse("0000:00:0b.0");
    /** QEMU's sdhci-pci: a 256-byte memory BAR, smaller than a page, and INTx. */
    static final PciAddress SDHCI = PciAddress.tryParse("0000:00:0c.0");

    /** edu's registers (QEMU docs/specs/edu.rst). */
    static final int EDU_ID = 0x00;
    static final int EDU_LIVENESS = 0x04;
    static final int EDU_FACTORIAL = 0x08;
    static final int EDU_STATUS = 0x20;
    static final int EDU_IRQ_STATUS = 0x24;
    static final int EDU_IRQ_RAISE = 0x60;
    static final int EDU_IRQ_ACK = 0x64;
    static final int EDU_DMA_SRC = 0x80;
    static final int EDU_DMA_DST = 0x88;
    static final int EDU_DMA_COUNT = 0x90;
    static final int EDU_DMA_CMD = 0x98;
    static final long EDU_BUFFER = 0x40000;

    static final int PCI_COMMAND = 0x04;
    static final int PCI_COMMAND_MASTER = 0x4;

    static final long RAM_GPA = 0x100000;
    static final int DMA_BYTES = 2048;

    private int passed;
    private int failed;
    /** Put before each check's and error's name: "iommufd-" while the Type1 checks run again through iommufd. */
    private String prefix = "";

    void check(String name, boolean ok, String detail) {
        System.out.println("JVFIO-CHECK " + prefix + name + " " + (ok ? "PASS" : "FAIL") + " " + detail);
        if (ok) {
            passed++;
        } else {
            failed++;
        }
    }

    int passed() {
        return passed;
    }

    int failed() {
        return failed;
    }

    static void info(String text) {
        System.out.println("JVFIO-INFO " + text);
    }

    void error(String name, Throwable e) {
        System.out.println("JVFIO-ERROR " + prefix + name + " " + e.getMessage());
    }

    interface Step {
        void run() throws Exception;
    }

    void step(String name, Step s) {
        try {
            s.run();
        } catch (Throwable t) {
            check(name, false, "threw " + t);
            t.printStackTrace(System.out);
        }
    }

    static boolean await(BooleanSupplier condition, long millis) throws InterruptedException {
        long deadline = System.nanoTime() + millis * 1_000_000;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(1); // also keeps the JIT from hoisting a device register read out of the loop
        }
        return true;
    }

    /** The fds that are VFIO objects, eventfds, epolls or memfds: what this probe opens and must close. */
    static List<String> ourFds() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.map(f -> {
                try {
                    return f.getFileName() + " -> " + Files.readSymbolicLink(f);
                } catch (IOException e) {
                    return "";
                }
            }).filter(t -> t.contains(" -> /dev/vfio/") || t.endsWith(" -> /dev/iommu") || t.endsWith("[vfio-device]") || t.endsWith("[eventfd]")
                    || t.endsWith("[eventpoll]") || t.contains(" -> /memfd:")).sorted().toList();
        }
    }

    public static void main(String[] args) throws Exception {
        NestedVfioProbe p = new NestedVfioProbe();
        p.run();
        System.out.println("JVFIO-RESULT " + p.passed + " passed, " + p.failed + " failed");
        System.out.flush();
        System.exit(p.failed == 0 ? 0 : 1);
    }

    private void run() throws Exception {
        PciSysfs sysfs = PciSysfs.system();
        for (PciAddress a : List.of(EDU, IVSHMEM, NVME, EDU_BEHIND_BRIDGE, EDU_ALONE_ON_A_BUS, SERIAL, SDHCI)) {
            step("bind " + a, () -> {
                String before = sysfs.bindToVfioPci(a);
                check("bind " + a, "vfio-pci".equals(sysfs.driver(a)), "was " + before + ", now " + sysfs.driver(a)
                        + " [" + sysfs.ids(a) + "] group " + sysfs.iommuGroup(a));
            });
        }
        int badGroup = sysfs.iommuGroup(EDU_BEHIND_BRIDGE);
        step("report", () -> {
            String report = IommuGroupReport.render(sysfs);
            for (String line : report.split("\n")) {
                info("report " + line);
            }
            check("report", report.contains("IOMMU group " + badGroup + " (/dev/vfio/" + badGroup + "): not viable")
                    && report.contains("IOMMU group " + sysfs.iommuGroup(EDU) + " (/dev/vfio/" + sysfs.iommuGroup(EDU)
                    + "): ready to pass through"), "group " + badGroup + " not viable, edu's group ready");
        });

        List<String> fdsBefore = ourFds();
        info("VFIO/eventfd/epoll/memfd fds before: " + fdsBefore);
        VirtualInterruptController apics = new VirtualInterruptController(1);
        InterruptRouter router = new InterruptRouter(apics);
        GuestMemory memory = new GuestMemory();
        VfioContainer container = VfioContainer.open();
        VfioGroup eduGroup = null;
        VfioGroup ivshmemGroup = null;
        VfioGroup nvmeGroup = null;
        VfioDevice edu = null;
        VfioDevice ivshmem = null;
        VfioDevice nvme = null;
        VfioGroup serialGroup = null;
        VfioGroup sdhciGroup = null;
        VfioDevice serial = null;
        VfioDevice sdhci = null;
        try {
            check("container", container.checkExtension(VFIO_TYPE1v2_IOMMU), "Type1v2 offered");
            eduGroup = VfioGroup.ofDevice(EDU, sysfs);
            check("edu-group", eduGroup.viable(), eduGroup + " viable, devices " + eduGroup.devices());
            eduGroup.attachTo(container);
            check("iommu", container.iommuType() == VFIO_TYPE1v2_IOMMU, container + ", page sizes 0x"
                    + Long.toHexString(container.iommuInfo().pageSizes()) + ", IOVA ranges "
                    + container.iommuInfo().ranges());
            edu = eduGroup.openDevice(EDU);
            edu(edu, memory, container, false, router, apics);
            new IoeventfdProbe(this, edu, router).run();
            VfioDevice e = edu;
            eduReset(e, "refused with a clear error");
            step("edu-hot-reset-info", () -> {
                try {
                    info("edu hot reset affects " + e.hotResetInfo());
                } catch (VfioException ex) {
                    info("edu hot reset: " + ex.getMessage());
                }
            });

            ivshmemGroup = VfioGroup.ofDevice(IVSHMEM, sysfs);
            ivshmemGroup.attachTo(container);
            ivshmem = ivshmemGroup.openDevice(IVSHMEM);
            ivshmem(ivshmem);

            nvmeGroup = VfioGroup.ofDevice(NVME, sysfs);
            nvmeGroup.attachTo(container);
            nvme = nvmeGroup.openDevice(NVME);
            nvme(nvme);
            new ModelProbe(this, edu, nvme, router, apics).run();

            serialGroup = VfioGroup.ofDevice(SERIAL, sysfs);
            serialGroup.attachTo(container);
            serial = serialGroup.openDevice(SERIAL);
            new UartProbe(this, serial).run();
            sdhciGroup = VfioGroup.ofDevice(SDHCI, sysfs);
            sdhciGroup.attachTo(container);
            sdhci = sdhciGroup.openDevice(SDHCI);
            new SdhciProbe(this, sdhci).run();
            new ModelProbe(this, null, null, null, null).portIoAndSubPage(serial, sdhci);

            step("not-viable", () -> {
                try (VfioGroup g = VfioGroup.open(badGroup, sysfs); VfioContainer other = VfioContainer.open()) {
                    check("not-viable-status", !g.viable(), "the kernel reports group " + badGroup + " not viable");
                    g.attachTo(other);
                    check("not-viable", false, "group " + badGroup + " joined a container");
                } catch (VfioException.GroupNotViable ex) {
                    error("not-viable", ex);
                    check("not-viable", true, "refused with the devices to bind");
                }
            });
            int eduGroupId = eduGroup.id();
            step("busy", () -> {
                try (VfioGroup again = VfioGroup.open(eduGroupId, sysfs)) {
                    check("busy", false, "opened /dev/vfio/" + eduGroupId + " twice");
                } catch (VfioException.GroupBusy ex) {
                    error("busy", ex);
                    check("busy", true, "the second open of the group is refused, and why");
                }
            });
        } finally {
            memory.removeListener(container);
            router.close();
            for (VfioDevice d : new VfioDevice[] {edu, ivshmem, nvme, serial, sdhci}) {
                if (d != null) {
                    d.close();
                }
            }
            for (VfioGroup g : new VfioGroup[] {eduGroup, ivshmemGroup, nvmeGroup, serialGroup, sdhciGroup}) {
                if (g != null) {
                    g.close();
                }
            }
            container.close();
            memory.close();
        }
        new ModelProbe(this, null, null, null, null).options(sysfs);
        new ModelProbe(this, null, null, null, null).hotReset(sysfs);
        step("iommufd", () -> iommufd(sysfs, badGroup));
        List<String> fdsAfter = ourFds();
        check("fds", fdsAfter.equals(fdsBefore), fdsBefore.size() + " VFIO/eventfd/epoll/memfd fds before opening "
                + "anything, " + fdsAfter.size() + " after closing devices, groups, container, memory and router"
                + (fdsAfter.equals(fdsBefore) ? "" : ": " + fdsAfter));
    }

    /**
     * The Type1 checks again, through the iommufd back end as the launcher reaches it (KernelVfio with
     * an -object iommufd): edu's cdev bound and attached to the VM's IOAS, its BAR, registers, MSI and
     * the DMA round trip through the IOAS; nvme's MSI-X; and the refusals: a reserved IOVA, the
     * not-viable group through its cdev, a device bound twice; and a cdev fd handed over (fd=N).
     */
    private void iommufd(PciSysfs sysfs, int badGroup) throws Exception {
        prefix = "iommufd-";
        check("available", Iommufd.problem() == null, Iommufd.problem() == null ? Iommufd.PATH + " is there"
                : Iommufd.problem());
        String report = IommuGroupReport.render(sysfs);
        String eduCdev = sysfs.vfioCdev(EDU);
        check("report", eduCdev != null && report.contains(EDU + " [1234:11e8] class 00ff00, driver vfio-pci, cdev "
                + "/dev/vfio/devices/" + eduCdev) && report.contains("iommufd: available"), "edu's cdev " + eduCdev
                + " and iommufd listed");
        VirtualInterruptController apics = new VirtualInterruptController(1);
        InterruptRouter router = new InterruptRouter(apics);
        GuestMemory memory = new GuestMemory();
        VfioDevice edu = null;
        VfioDevice nvme = null;
        try (Iommufd i0 = Iommufd.open("i0"); KernelVfio vfio = new KernelVfio(memory, sysfs)) {
            try {
                edu = vfio.openDevice(EDU, i0);
                IommufdIoas ioas = edu.cdev().ioas();
                check("cdev", edu.cdev().path().equals("/dev/vfio/devices/" + eduCdev) && edu.group() == null,
                        edu + ", device id " + edu.cdev().devId() + " in " + i0);
                IommuInfo info = ioas.iommuInfo();
                check("ioas", !info.usable(0xfee00000L, 4096) && info.usable(RAM_GPA, 2 << 20), ioas + ": IOVA ranges "
                        + info.ranges() + " (the MSI window reserved), alignment 0x" + Long.toHexString(info.pageSizes()));
                edu(edu, memory, ioas, true, router, apics);
                eduReset(edu, "refused with the same error as through the group");
                step("reserved-iova", () -> {
                    try (MemoryBackend msiWindow = MemoryBackend.memfd("in-the-msi-window", 4096, false)) {
                        memory.addRegion("msi-window", 0xfee00000L, msiWindow);
                        check("reserved-iova", false, "guest RAM was mapped over the MSI window");
                    } catch (VfioException ex) {
                        error("reserved-iova", ex);
                        check("reserved-iova", ex.getMessage().contains("only maps"), "refused, naming the ranges");
                    }
                });
                nvme = vfio.openDevice(NVME, i0);
                check("shared-ioas", nvme.cdev().ioas() == ioas, "edu and nvme share " + ioas);
                nvme(nvme);
                step("not-viable", () -> {
                    try (VfioDevice bad = vfio.openDevice(EDU_BEHIND_BRIDGE, i0)) {
                        check("not-viable", false, bad + " was bound although group " + badGroup + " is not viable");
                    } catch (VfioException.GroupNotViable ex) {
                        error("not-viable", ex);
                        check("not-viable", true, "the cdev of a device in group " + badGroup + " is refused as the "
                                + "group is");
                    }
                });
                step("bound-twice", () -> {
                    try (Iommufd i1 = Iommufd.open("i1"); KernelVfio other = new KernelVfio(new GuestMemory(), sysfs);
                         VfioDevice again = other.openDevice(EDU, i1)) {
                        check("bound-twice", false, again + " bound to a second iommufd");
                    } catch (VfioException ex) {
                        error("bound-twice", ex);
                        check("bound-twice", ex.getMessage().contains("already bound"), "a second bind is refused");
                    }
                });
                step("group-open", () -> {
                    // The group opened the legacy way blocks its devices' cdevs (the kernel says EBUSY).
                    try (VfioGroup legacy = VfioGroup.ofDevice(IVSHMEM, sysfs);
                         VfioDevice d = vfio.openDevice(IVSHMEM, i0)) {
                        check("group-open", false, d + " bound while " + legacy + " is open");
                    } catch (VfioException.GroupBusy ex) {
                        error("group-open", ex);
                        check("group-open", ex.getMessage().contains("is open through /dev/vfio/"), "refused, naming "
                                + "the group's holder");
                    }
                });
                step("fd", () -> {
                    // As a management layer would: it opens the cdev and hands over the number.
                    String cdev = "/dev/vfio/devices/" + sysfs.vfioCdev(IVSHMEM);
                    int n = Syscalls.open(cdev, O_RDWR).release();
                    VfioDevice d = vfio.adoptDevice(PassedFd.of(n, "fd=" + n), null, i0);
                    check("fd", d.address().equals(IVSHMEM) && d.region(2).size() == 64L << 20, "fd " + n + " ("
                            + cdev + ") is " + d);
                    d.close();
                });
            } finally {
                for (VfioDevice d : new VfioDevice[] {edu, nvme}) {
                    if (d != null) {
                        d.close();
                    }
                }
            }
        } finally {
            router.close();
            memory.close();
            prefix = "";
        }
    }

    /** edu has no reset of its own, and no bus reset reaches it alone: the reset is refused, and why. */
    private void eduReset(VfioDevice edu, String detail) {
        step("edu-reset", () -> {
            try {
                edu.reset();
                check("edu-reset", false, "reset succeeded, but edu offers none");
            } catch (VfioException.ResetNotSupported ex) {
                error("reset", ex);
                check("edu-reset", true, detail);
            }
        });
    }

    private void edu(VfioDevice edu, GuestMemory memory, IommuAddressSpace space, boolean following,
            InterruptRouter router, VirtualInterruptController apics) throws Exception {
        for (VfioRegion r : edu.regions()) {
            info("edu region " + r);
        }
        for (VfioIrq q : edu.irqs()) {
            info("edu irq " + q);
        }
        VfioRegion bar0 = edu.region(0);
        check("edu-regions", bar0.size() == 0x100000 && bar0.mmappable() && bar0.readable() && bar0.writable()
                && edu.region(VFIO_PCI_CONFIG_REGION_INDEX).size() >= 256 && edu.irq(VFIO_PCI_MSI_IRQ_INDEX).count() == 1,
                edu.regions().size() + " regions, BAR0 1 MiB rw mmap, " + edu.irqs().size() + " IRQ indexes, 1 MSI vector");

        // MSI writes and DMA are bus-master transactions; enabling them is the driver's job (here, ours).
        long command = edu.read(VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND, 2);
        edu.write(VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND, 2, command | PCI_COMMAND_MASTER);
        long enabled = edu.read(VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND, 2);
        check("edu-bus-master", (enabled & PCI_COMMAND_MASTER) != 0, String.format(
                "command register 0x%04x -> 0x%04x through the config region", command, enabled));

        try (MemoryMapping mapping = edu.mmap(0, bar0.mmapAreas().get(0))) {
            ByteBuffer regs = mapping.byteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            int id = regs.getInt(EDU_ID);
            check("edu-id", id == 0x010000ed, String.format("BAR0 mmap'd at 0x%x reads id 0x%08x", mapping.address(), id));

            regs.putInt(EDU_LIVENESS, 0x12345678);
            int live = regs.getInt(EDU_LIVENESS);
            check("edu-liveness", live == ~0x12345678, String.format("wrote 0x12345678, read 0x%08x", live));

            regs.putInt(EDU_FACTORIAL, 5);
            boolean computed = await(() -> (regs.getInt(EDU_STATUS) & 1) == 0, 10_000);
            int fact = regs.getInt(EDU_FACTORIAL);
            check("edu-factorial", computed && fact == 120, "5! = " + fact);

            step("edu-msi", () -> {
                try (EventFd msi = new EventFd("edu msi")) {
                    InterruptRoute route = router.addMsi("edu msi 0", RouteKind.MSI, msi, MsiMessage.fixed(0, 0x41), false);
                    edu.enableIrq(VFIO_PCI_MSI_IRQ_INDEX, new EventFd[] {msi});
                    regs.putInt(EDU_IRQ_RAISE, 0x5);
                    boolean delivered = await(() -> apics.apic(0).isPending(0x41), 10_000);
                    int status = regs.getInt(EDU_IRQ_STATUS);
                    regs.putInt(EDU_IRQ_ACK, status);
                    check("edu-msi", delivered && status == 0x5, "edu -> VFIO_DEVICE_SET_IRQS eventfd -> irq-routing -> "
                            + "local APIC vector 0x41 (edu interrupt status 0x" + Integer.toHexString(status) + "): "
                            + route.stats());
                    edu.disableIrq(VFIO_PCI_MSI_IRQ_INDEX);
                    router.remove(route);
                }
            });

            step("edu-dma", () -> {
                MemoryBackend ram = MemoryBackend.memfd("nested-ram", 2 << 20, false);
                memory.addRegion("ram", RAM_GPA, ram);
                if (!following) {
                    memory.addListener(space); // mapped at IOVA = guest physical address
                }
                long src = RAM_GPA;
                long dst = RAM_GPA + 0x80000;
                for (int i = 0; i < DMA_BYTES; i++) {
                    memory.ram().writeU8(src + i, (i * 7 + 3) & 0xFF);
                    memory.ram().writeU8(dst + i, 0xEE);
                }
                regs.putLong(EDU_DMA_SRC, src);
                regs.putLong(EDU_DMA_DST, EDU_BUFFER);
                regs.putLong(EDU_DMA_COUNT, DMA_BYTES);
                regs.putLong(EDU_DMA_CMD, 1); // start, RAM -> device
                boolean in = await(() -> (regs.getLong(EDU_DMA_CMD) & 1) == 0, 10_000);
                regs.putLong(EDU_DMA_SRC, EDU_BUFFER);
                regs.putLong(EDU_DMA_DST, dst);
                regs.putLong(EDU_DMA_COUNT, DMA_BYTES);
                regs.putLong(EDU_DMA_CMD, 1 | 2); // start, device -> RAM
                boolean out = await(() -> (regs.getLong(EDU_DMA_CMD) & 1) == 0, 10_000);
                byte[] a = new byte[DMA_BYTES];
                byte[] b = new byte[DMA_BYTES];
                memory.ram().read(src, a, 0, DMA_BYTES);
                memory.ram().read(dst, b, 0, DMA_BYTES);
                int firstDifference = java.util.Arrays.mismatch(a, b);
                check("edu-dma", in && out && firstDifference < 0, DMA_BYTES + " bytes RAM -> device -> RAM through "
                        + space + " at IOVA 0x" + Long.toHexString(src) + (firstDifference < 0 ? ", equal byte for byte"
                        : ", first difference at byte " + firstDifference));
            });
        }
    }

    private void ivshmem(VfioDevice ivshmem) {
        step("ivshmem", () -> {
            VfioRegion bar2 = ivshmem.region(2);
            info("ivshmem region " + bar2);
            try (MemoryMapping m = ivshmem.mmap(2, bar2.mmapAreas().get(0))) {
                ByteBuffer b = m.byteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                long[] offsets = {0, 4096, 32L << 20, (64L << 20) - 8};
                for (long off : offsets) {
                    b.putLong((int) off, 0x5A5A000000000000L | off);
                }
                boolean ok = bar2.size() == 64L << 20;
                for (long off : offsets) {
                    long viaMapping = b.getLong((int) off);
                    long viaRegionRead = ivshmem.read(2, off, 8);
                    ok &= viaMapping == (0x5A5A000000000000L | off) && viaRegionRead == viaMapping;
                }
                check("ivshmem", ok, "64 MiB BAR2 mmap'd, written and read back through the mapping and through "
                        + "pread of the region");
            }
        });
    }

    private void nvme(VfioDevice nvme) {
        step("nvme", () -> {
            for (VfioRegion r : nvme.regions()) {
                info("nvme region " + r);
            }
            VfioIrq msix = nvme.irq(VFIO_PCI_MSIX_IRQ_INDEX);
            info("nvme irq " + msix);
            // The MSI-X capability in config space: where the table and PBA are.
            int at = (int) nvme.read(VFIO_PCI_CONFIG_REGION_INDEX, 0x34, 1);
            int tableSize = -1;
            int tableBir = -1;
            long tableOffset = -1;
            int pbaBir = -1;
            long pbaOffset = -1;
            for (int guard = 0; at != 0 && guard < 48; guard++) {
                int id = (int) nvme.read(VFIO_PCI_CONFIG_REGION_INDEX, at, 1);
                if (id == 0x11) {
                    tableSize = (int) (nvme.read(VFIO_PCI_CONFIG_REGION_INDEX, at + 2, 2) & 0x7FF) + 1;
                    long table = nvme.read(VFIO_PCI_CONFIG_REGION_INDEX, at + 4, 4);
                    long pba = nvme.read(VFIO_PCI_CONFIG_REGION_INDEX, at + 8, 4);
                    tableBir = (int) (table & 7);
                    tableOffset = table & ~7L;
                    pbaBir = (int) (pba & 7);
                    pbaOffset = pba & ~7L;
                }
                at = (int) nvme.read(VFIO_PCI_CONFIG_REGION_INDEX, at + 1, 1);
            }
            info(String.format("nvme MSI-X capability: %d vectors, table in BAR%d at 0x%x, PBA in BAR%d at 0x%x",
                    tableSize, tableBir, tableOffset, pbaBir, pbaOffset));
            VfioRegion bar = tableBir >= 0 ? nvme.region(tableBir) : null;
            boolean layout = bar != null && bar.present() && tableOffset + 16L * tableSize <= bar.size();
            String how;
            if (bar != null && bar.msixMappable()) {
                how = "the kernel reports the MSI-X table mappable (interrupt remapping), so all of BAR" + tableBir
                        + " may be mmap'd: " + bar.mmapAreas();
            } else if (bar != null) {
                long tableEnd = tableOffset + 16L * tableSize;
                for (RegionCapability.Area a : bar.mmapAreas()) {
                    layout &= a.offset() + a.size() <= (tableOffset & ~4095L) || a.offset() >= tableEnd;
                }
                how = "the sparse areas " + bar.mmapAreas() + " leave out the MSI-X table";
            } else {
                how = "no MSI-X capability found";
            }
            check("nvme-msix", msix.count() == tableSize && layout, "MSI-X count " + msix.count()
                    + " (config space says " + tableSize + "); " + how);
        });
    }
}
