package io.jvfio.launcher;

import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.GuestMemoryException;
import io.jvfio.memory.GuestRegion;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.memory.X86RamLayout;
import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.user.VfioUserPciDriver;
import io.jvfio.vmm.device.DeviceConfig;
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
        try (GuestMemory memory = new GuestMemory()) {
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
                if (d.driver().name().equals(VfioUserPciDriver.NAME)) {
                    try {
                        out.println("device: " + d + " -> " + VfioUserAttach.describe(d, memory));
                    } catch (VfioException e) {
                        err.println("jvfio: -device " + d + ": " + e.getMessage());
                        return 1;
                    }
                } else {
                    out.println("device: " + d);
                }
            }
        } catch (GuestMemoryException | SyscallException e) {
            err.println("jvfio: " + e.getMessage());
            return 1;
        }
        err.println("jvfio: the options are valid, but this build cannot run a VM yet: the passthrough device model "
                + "and the KVM back end are still to come; nothing was run");
        return EXIT_NOT_AVAILABLE;
    }
}
