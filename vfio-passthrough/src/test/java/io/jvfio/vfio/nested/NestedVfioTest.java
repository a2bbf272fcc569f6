package io.jvfio.vfio.nested;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The kernel VFIO back end against a real kernel: this machine's kernel has no VFIO, so the test
 * boots the nested VM of shared/nested/README.md (QEMU with an emulated IOMMU, edu, ivshmem-plain,
 * nvme, a pci-serial UART (I/O BAR, INTx), an sdhci-pci (a BAR smaller than a page), and a group made
 * non-viable by a serial port behind a bridge) and runs
 * {@link NestedVfioProbe} inside it, from this build's class path, then asserts on what it printed.
 *
 * <p>Needs qemu-system-x86, busybox-static, cpio ({@code scripts/nested-vm-prepare}) and the test kernel
 * ({@code scripts/test-kernel-prepare}); {@code ./run-tests} runs both. Without them the test is
 * skipped with the reason, unless {@code -Djvfio.nested=required} (set by {@code ./run-tests}),
 * when it fails instead.
 */
class NestedVfioTest {

    /** Boot and Java run must fit in this; QEMU is killed after it. */
    private static final int TIMEOUT_SECONDS = 180;

    private static final List<String> DEVICES = List.of(
            "-device", "edu,addr=8",
            "-object", "memory-backend-ram,id=ivshmem,size=64M",
            "-device", "ivshmem-plain,memdev=ivshmem,addr=9",
            // An NVMe subsystem, so the controller can offer SR-IOV (with ARI): capabilities the model must hide.
            "-device", "nvme-subsys,id=subsys0",
            "-device", "nvme,id=nvme1,serial=jvfio,addr=0xa,subsys=subsys0,sriov_max_vfs=1,sriov_vq_flexible=2,"
                    + "sriov_vi_flexible=1",
            "-device", "nvme-ns,drive=nvme0,bus=nvme1",
            // Devices that are not edu, each in its own group: a 16550 UART (an 8-byte I/O BAR and INTx, no
            // MSI) and an SD host controller (a 256-byte memory BAR, smaller than a page).
            "-device", "pci-serial,addr=0xb",
            "-device", "sdhci-pci,addr=0xc",
            "-device", "pci-bridge,id=br1,chassis_nr=1,addr=0x10",
            "-device", "edu,bus=br1,addr=1",
            "-device", "pci-serial,bus=br1,addr=2",
            // An edu alone behind a bridge: a secondary bus reset reaches it, so it can be hot reset.
            "-device", "pci-bridge,id=br2,chassis_nr=2,addr=0x11",
            "-device", "edu,bus=br2,addr=1");

    private static final List<String> CHECKS = List.of("bind 0000:00:08.0", "bind 0000:00:09.0", "bind 0000:00:0a.0",
            "bind 0000:01:01.0", "bind 0000:02:01.0", "bind 0000:00:0b.0", "bind 0000:00:0c.0", "report", "container",
            "edu-group", "iommu", "edu-regions", "edu-id", "edu-liveness",
            "edu-bus-master", "edu-factorial", "edu-msi", "edu-dma", "edu-ioeventfd", "edu-ioeventfd-deassign",
            "model-edu-dynamic-ioeventfd", "edu-reset", "ivshmem", "nvme-msix", "model-edu-dump",
            "model-edu-sizing", "model-edu-mmio", "model-edu-msi", "model-nvme-dump", "model-nvme-sizing",
            "model-nvme-msix", "model-reset",
            "serial-regions", "serial-registers", "serial-intx", "serial-intx-unmask", "sdhci-regions",
            "sdhci-registers", "sdhci-mmap-page", "model-serial-dump", "model-serial-sizing", "model-serial-pio",
            "model-serial-intx", "model-sdhci-dump", "model-sdhci-sizing", "model-sdhci-mmio",
            "model-sdhci-mmio-unaligned",
            "model-options", "model-hot-reset",
            "not-viable-status", "not-viable", "busy", "fds", "model-nvme-msix-on-demand",
            // The same through iommufd and the device cdev (on the test kernel: CONFIG_IOMMUFD, CONFIG_VFIO_DEVICE_CDEV).
            "iommufd-available", "iommufd-report", "iommufd-cdev", "iommufd-ioas", "iommufd-edu-regions", "iommufd-edu-bus-master",
            "iommufd-edu-id", "iommufd-edu-liveness", "iommufd-edu-factorial", "iommufd-edu-msi", "iommufd-edu-dma",
            "iommufd-edu-reset", "iommufd-reserved-iova", "iommufd-shared-ioas", "iommufd-nvme-msix",
            "iommufd-not-viable", "iommufd-bound-twice", "iommufd-group-open", "iommufd-fd");

    private static final String NOT_VIABLE_TEXT = "VFIO group \\d+ is not viable: "
            + "every device in an IOMMU group must be bound to vfio-pci \\(or to no driver\\) before any of them can be "
            + "assigned, and 0000:01:02\\.0 \\[1b36:0002\\] is bound to serial\\. Bind it: echo vfio-pci > "
            + "/sys/bus/pci/devices/0000:01:02\\.0/driver_override; echo 0000:01:02\\.0 > "
            + "/sys/bus/pci/devices/0000:01:02\\.0/driver/unbind; echo 0000:01:02\\.0 > /sys/bus/pci/drivers_probe";
    private static final Pattern NOT_VIABLE = Pattern.compile("JVFIO-ERROR not-viable " + NOT_VIABLE_TEXT);
    /** The cdev path refuses the group with the group path's own text. */
    private static final Pattern CDEV_NOT_VIABLE = Pattern.compile("JVFIO-ERROR iommufd-not-viable " + NOT_VIABLE_TEXT);
    private static final Pattern BUSY = Pattern.compile("JVFIO-ERROR busy VFIO group (\\d+) \\(/dev/vfio/\\1\\) is busy: "
            + "it is already open, in this process \\(pid \\d+, java\\)\\. A group has one owner at a time, and the "
            + "group, not the device, is the unit of ownership: 0000:00:08\\.0 all go to that owner, so devices in one "
            + "group \\(such as the functions of a multi-function device\\) cannot be split between VMs");
    private static final Pattern MODEL_RESET = Pattern.compile("JVFIO-ERROR model-reset cannot reset 0000:00:08\\.0: "
            + "it has no reset of its own \\(its VFIO device flags lack VFIO_DEVICE_FLAGS_RESET\\) and no bus reset "
            + "reaches it alone .*; the VM cannot reset this device");
    /** The kernel back end's own reset tries a hot reset when the device has none, as the model's did. */
    private static final Pattern RESET = Pattern.compile("JVFIO-ERROR reset cannot reset 0000:00:08\\.0: it has no "
            + "reset of its own \\(its VFIO device flags lack VFIO_DEVICE_FLAGS_RESET\\) and no bus reset reaches it "
            + "alone .*; the VM cannot reset this device");

    @Test
    void theKernelBackEndAgainstRealVfio() throws Exception {
        NestedVm.Prerequisites pre = NestedVm.prerequisitesOrSkip();
        Path work = Path.of("target/nested-vm").toAbsolutePath();
        Files.createDirectories(work);
        Path disk = work.resolve("nvme.img");
        try (var f = new java.io.RandomAccessFile(disk.toFile(), "rw")) {
            f.setLength(16L << 20);
        }
        Path script = work.resolve("run.sh");
        Files.writeString(script, NestedVm.javaScript(NestedVfioProbe.class.getName(), ""));

        List<String> devices = new java.util.ArrayList<>(DEVICES);
        devices.addAll(List.of("-drive", "file=" + disk + ",if=none,id=nvme0,format=raw"));
        NestedVm.Run run = new NestedVm(pre, work).boot(devices, script, TIMEOUT_SECONDS);
        String console = "\n--- the VM's console (last 60 lines; all of it in " + work.resolve("console.log") + ") ---\n"
                + run.tail(60);

        if (!run.finished()) {
            fail(run.ending(TIMEOUT_SECONDS) + console);
        }
        for (String check : CHECKS) {
            String pass = "JVFIO-CHECK " + check + " PASS";
            assertTrue(run.lines().stream().anyMatch(l -> l.startsWith(pass)), "check '" + check + "' did not pass"
                    + console);
        }
        assertTrue(run.lines().stream().noneMatch(l -> l.contains(" FAIL ")), "a check failed" + console);
        assertTrue(run.lines().stream().anyMatch(l -> NOT_VIABLE.matcher(l).matches()), "the not-viable text" + console);
        assertTrue(run.lines().stream().anyMatch(l -> CDEV_NOT_VIABLE.matcher(l).matches()), "the not-viable text "
                + "through the cdev" + console);
        assertTrue(run.lines().stream().anyMatch(l -> BUSY.matcher(l).matches()), "the busy-group text" + console);
        assertTrue(run.lines().stream().anyMatch(l -> RESET.matcher(l).matches()), "the reset text" + console);
        assertTrue(run.lines().stream().anyMatch(l -> MODEL_RESET.matcher(l).matches()), "the model's reset text"
                + console);
        assertTrue(run.exitCode() == 0, "the probe exited with " + run.exitCode() + console);
        System.out.println("nested VM: boot and probe in " + run.millis() + " ms");
        run.lines().stream().filter(l -> l.startsWith("JVFIO-")).forEach(System.out::println);
    }
}
