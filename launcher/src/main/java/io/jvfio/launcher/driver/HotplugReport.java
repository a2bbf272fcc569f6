package io.jvfio.launcher.driver;

import java.util.List;

/**
 * The hotplug service's words, the same from both forms of the driver: each line begins with
 * {@code hotplug:}; a hot-added device's steps are a block of their own, between the line that says
 * where it was found and the line that says how its steps ended ({@code every step passed}, or how many
 * failed), so that a reader of jvfio's output (or a test) finds each device's result in one place.
 */
final class HotplugReport {

    /** What ends a device's block when all its steps ran and none failed. */
    static final String PASSED = "every step passed";

    private HotplugReport() {
    }

    static String bdf(int bdf) {
        return String.format("%02x:%02x.%x", bdf >>> 8, bdf >>> 3 & 0x1f, bdf & 7);
    }

    /** "root port 00:02.0 (slot 1)". */
    static String port(int devfn, int slot) {
        return "root port " + bdf(devfn) + " (slot " + slot + ")";
    }

    /** The line the service starts with: each port it serves, its bus and its interrupt. */
    static String serving(List<String> ports, int vector) {
        return "hotplug: serving " + ports.size() + (ports.size() == 1 ? " root port: " : " root ports: ")
                + String.join(", ", ports) + String.format("; their MSI, vector 0x%x, at APIC 0; waiting for the "
                + "slots' events", vector) + "\n";
    }

    /** "00:02.0 (slot 1, bus 1)", one port as {@link #serving} lists them. */
    static String served(int devfn, int slot, int secondary) {
        return bdf(devfn) + " (slot " + slot + ", bus " + secondary + ")";
    }

    /** "01:00.0 [1234:11e8], edu-compatible; behind root port 00:02.0 (slot 1)": the find step of a hot-added device. */
    static String found(int bdf, int ids, String port) {
        return String.format("%s [%04x:%04x]%s; behind %s", bdf(bdf), ids & 0xFFFF, ids >>> 16,
                ids == 0x11e81234 ? ", edu-compatible" : "", port);
    }

    /** The bars step: the BARs as at the start, and the port's windows opened over them. */
    static String placed(String bars, long memoryBase, long memoryLimit, long ioBase, long ioLimit, boolean fits) {
        String windows = (memoryLimit > memoryBase ? String.format("memory window 0x%x-0x%x", memoryBase, memoryLimit)
                : "memory window closed") + ", " + (ioLimit > ioBase ? String.format("I/O window 0x%x-0x%x", ioBase,
                ioLimit) : "I/O window closed");
        return bars + "; the port's " + windows + (fits ? "" : ": no room left in the host bridge's windows");
    }

    /** A device's block: where it was found and how its slot came up, its steps, and how they ended. */
    static String added(String port, int bdf, int howBits, DriverReport report) {
        String how = how(howBits);
        long failed = report.steps().stream().filter(s -> s.status() == StepResult.Status.FAIL).count();
        return "hotplug: " + port + ": presence detected; " + how + "; " + bdf(bdf) + " driven:\n" + report.render()
                + "hotplug: " + bdf(bdf) + " behind " + port + ": " + (report.passed() ? PASSED
                : failed == 0 ? "the run failed" : failed + (failed == 1 ? " step failed" : " steps failed")) + "\n";
    }

    /** How a slot came up, as bits (the guest's MB_HP_HOW): the slot powered on (its command completed). */
    static final int POWERED_ON = 1;
    /** The data link layer active. */
    static final int LINK_ACTIVE = 2;
    /** The power indicator on (a slot without a power controller). */
    static final int INDICATOR_ON = 4;

    /** Why a slot or its device did not come up (the guest's MB_HP_WHY): the power-on command did not complete. */
    static final int POWER_NOT_COMPLETED = 1;
    /** The data link did not come up. */
    static final int NO_LINK = 2;
    /** No function answered at secondary:00.0. */
    static final int NO_FUNCTION = 3;

    /** "slot powered on (command completed), data link active", from the {@code how} bits. */
    static String how(int how) {
        List<String> words = new java.util.ArrayList<>();
        if ((how & POWERED_ON) != 0) {
            words.add("slot powered on (command completed)");
        }
        if ((how & INDICATOR_ON) != 0) {
            words.add("power indicator on");
        }
        if ((how & LINK_ACTIVE) != 0) {
            words.add("data link active");
        }
        return words.isEmpty() ? "no power controller, no link reporting" : String.join(", ", words);
    }

    /** Presence detected, but the slot or the device did not come up: how far it got, and why not. */
    static String notUp(String port, int how, int why, int bdf) {
        String reason = switch (why) {
            case POWER_NOT_COMPLETED -> "the power-on command did not complete in time";
            case NO_LINK -> "the data link did not come up in time";
            default -> "no function answers at " + bdf(bdf);
        };
        return "hotplug: " + port + ": presence detected; " + (how == 0 ? "" : how(how) + "; ") + reason + "\n";
    }

    /** The attention button: what was quiesced, and the slot powered off. */
    static String removed(String port, int bdf, boolean powerController, boolean completed) {
        return "hotplug: " + port + ": attention button pressed; " + bdf(bdf) + " quiesced (bus mastering, memory and "
                + "I/O decode, MSI and MSI-X off); " + (powerController ? "power indicator off and slot powered off "
                + "in one Slot Control write" : "power indicator off (the slot has no power controller)")
                + (completed ? ", command completed" : ", command NOT completed in time") + "\n";
    }

    /** The device has left the slot. */
    static String empty(String port, int bdf) {
        return "hotplug: " + port + ": presence detect changed: the slot is empty (" + bdf(bdf) + " is gone)\n";
    }
}
