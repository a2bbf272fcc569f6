package io.jvfio.launcher;

import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.GuestMemoryException;
import io.jvfio.memory.GuestRegion;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.memory.X86RamLayout;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.VirtualInterruptController;
import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.pci.PassthroughDevices;
import io.jvfio.vfio.sysfs.PciSysfs;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.bus.BusException;
import io.jvfio.vmm.device.DeviceConfig;
import io.jvfio.vmm.pci.PciConfigDump;
import io.jvfio.vmm.pci.PciHostBridge;
import io.jvfio.vmm.pci.PciPlacementException;
import io.jvfio.vmm.device.DeviceRegistry;
import io.jvfio.vmm.linux.SyscallException;

import java.io.PrintStream;

/**
 * The {@code jvfio} command. Bad input gets one line on stderr and status 1; help and listings go
 * to stdout with status 0.
 */
public final class Main {

    /** Options valid, but this build cannot run what they describe. */
    static final int EXIT_NOT_AVAILABLE = 2;

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        CommandLine.Command command;
        try {
            command = new CommandLine(DeviceRegistry.load()).parse(args);
        } catch (UsageException e) {
            err.println("jvfio: " + e.getMessage());
            return 1;
        }
        if (command instanceof CommandLine.ShowText text) {
            out.print(text.text());
            return 0;
        }
        if (command instanceof CommandLine.Serve serve) {
            return DeviceServer.runUntilSignalled(serve, out, err);
        }
        MachineConfig config = ((CommandLine.Launch) command).config();
        AddressSpace space = new AddressSpace();
        PciHostBridge bridge = new PciHostBridge(space, PciHostBridge.DEFAULT_ECAM_BASE);
        VirtualInterruptController apics = new VirtualInterruptController(1);
        try (GuestMemory memory = new GuestMemory();
             InterruptRouter router = new InterruptRouter(apics);
             PassthroughDevices devices = new PassthroughDevices(space, bridge, router, memory, PciSysfs.system())) {
            MemoryBackend ram = MemoryBackend.create(config.ram());
            try {
                X86RamLayout.install(memory, ram);
            } catch (RuntimeException e) {
                ram.close();
                throw e;
            }
            out.println("machine: pc, " + (config.ram().size() >> 20) + " MiB of RAM, accel "
                    + config.accelerator().option() + (config.acceleratorChosen() ? "" : " (chosen by availability)")
                    + (config.name() != null ? ", name \"" + config.name() + "\"" : ""));
            for (GuestRegion r : memory.regions()) {
                out.println("memory: " + r + " <- " + r.backend()
                        + (r.backendOffset() != 0 ? " at offset 0x" + Long.toHexString(r.backendOffset()) : ""));
            }
            for (DeviceConfig d : config.devices()) {
                try {
                    PassthroughDevices.Placed p = devices.add(d);
                    out.println("device: " + d + " -> 00:" + p.at() + " " + DeviceDescription.describe(p.device()));
                } catch (VfioException | PciPlacementException | SyscallException | BusException e) {
                    err.println("jvfio: -device " + d + ": " + e.getMessage());
                    return 1;
                }
            }
            for (String line : PciConfigDump.list(bridge).split("\n")) {
                out.println("pci: " + line);
            }
        } catch (GuestMemoryException | SyscallException e) {
            err.println("jvfio: " + e.getMessage());
            return 1;
        }
        err.println("jvfio: the machine is assembled, but this build cannot run a VM yet: the KVM back end (the vCPU "
                + "loop) is still to come; nothing was run");
        return EXIT_NOT_AVAILABLE;
    }
}
