package io.jvfio.vmm.linux;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * This process as {@code /proc/self/status} describes it, one field at a time ({@code CapEff},
 * {@code VmLck}, ...): read anew at each call, since most of them change as the process runs.
 */
public final class ProcessStatus {

    private static final Path STATUS = Path.of("/proc/self/status");

    private ProcessStatus() {
    }

    /** The value of field {@code name} (without its colon), trimmed; null if the kernel has no such field. */
    public static String field(String name) {
        try {
            return field(Files.readString(STATUS), name);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The value of field {@code name} in {@code status}, a {@code /proc/PID/status} text; null if absent. */
    static String field(String status, String name) {
        String prefix = name + ":";
        for (String line : status.split("\n")) {
            if (line.startsWith(prefix)) {
                return line.substring(prefix.length()).trim();
            }
        }
        return null;
    }

    /** {@code VmLck}: the bytes this process has locked (mlock, and VFIO Type1's pins). */
    public static long lockedBytes() {
        String v = field("VmLck");
        return v == null ? 0 : Long.parseLong(v.split("\\s+")[0]) << 10;
    }
}
