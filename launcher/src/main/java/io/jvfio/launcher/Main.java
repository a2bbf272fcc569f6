package io.jvfio.launcher;

import io.jvfio.vmm.device.DeviceConfig;
import io.jvfio.vmm.device.DeviceRegistry;

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
        MachineConfig config = ((CommandLine.Launch) command).config();
        out.println("machine: " + (config.memorySize() >> 20) + " MiB of RAM, accel "
                + config.accelerator().option() + (config.acceleratorChosen() ? "" : " (chosen by availability)")
                + (config.name() != null ? ", name \"" + config.name() + "\"" : ""));
        for (DeviceConfig d : config.devices()) {
            out.println("device: " + d);
        }
        err.println("jvfio: the options are valid, but this build cannot run a VM yet: guest memory, the KVM "
                + "back end and the passthrough device model are still to come; nothing was run");
        return EXIT_NOT_AVAILABLE;
    }
}
