package io.jvfio.launcher;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The launcher's runs inside the nested VM, for the nested ITs: the script that runs the shaded jar
 * once per entry (each run's arguments and status framed by marker lines on the console), and the
 * console cut back into those runs.
 */
final class NestedJvfioRuns {

    private NestedJvfioRuns() {
    }

    /** One jvfio run in the VM: its arguments, its status, and what it printed. */
    record JvfioRun(String args, int status, List<String> lines) {
        String out() {
            return String.join("\n", lines);
        }

        Map<String, String> steps() {
            return ReportSteps.of(lines);
        }
    }

    /** The shaded jar the build made (failsafe's {@code jvfio.jar}), checked to exist. */
    static Path shadedJar() {
        Path jar = Path.of(System.getProperty("jvfio.jar", "target/jvfio.jar")).toAbsolutePath();
        org.junit.jupiter.api.Assertions.assertTrue(java.nio.file.Files.isRegularFile(jar),
                "the shaded jar " + jar + " was not built");
        return jar;
    }

    /**
     * The script for {@code runs}: each entry a name for the tests, the arguments, and optionally a
     * shell suffix (redirections); {@code prefix} (may be empty) goes before {@code java}, e.g. a
     * {@code setpriv} that drops capabilities, where an entry's fourth field is "prefixed".
     */
    static String script(Path jar, String[][] runs, String prefix) {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        StringBuilder sh = new StringBuilder("""
                #!/bin/sh
                # Runs inside the nested VM, chrooted into this machine's (read-only) file system.
                export HOME=/dev/shm
                run() {
                  prefix=$1
                  shift
                  echo "JVFIO-RUN $*"
                  $prefix %s -Djava.io.tmpdir=/dev/shm -Djna.tmpdir=/dev/shm -XX:-UsePerfData -XX:TieredStopAtLevel=1 \\
                    -XX:+UseSerialGC -jar %s "$@" 2>&1
                  status=$?
                  echo "JVFIO-STATUS $status at $(cut -d' ' -f1 /proc/uptime) s"
                }
                jvfio() {
                  run "" "$@"
                }
                """.formatted(java, jar));
        for (String[] r : runs) {
            boolean prefixed = r.length > 3 && "prefixed".equals(r[3]);
            sh.append(prefixed ? "run \"" + prefix + "\" " : "jvfio ").append(r[1])
                    .append(r.length > 2 && !r[2].isEmpty() ? " " + r[2] : "").append('\n');
        }
        return sh.toString();
    }

    /**
     * The run named {@code name} in the script's {@code table} (the same order as {@code runs}), printed
     * for the test's log; {@code console} is appended to a failure's message.
     */
    static JvfioRun named(String name, String[][] table, List<JvfioRun> runs, String console) {
        for (int i = 0; i < table.length; i++) {
            if (table[i][0].equals(name)) {
                JvfioRun r = runs.get(i);
                org.junit.jupiter.api.Assertions.assertEquals(table[i][1], r.args(), "the runs are out of order" + console);
                System.out.println("jvfio " + r.args() + "\n" + r.out());
                return r;
            }
        }
        throw new IllegalArgumentException(name);
    }

    /** The console cut into the script's jvfio runs. */
    static List<JvfioRun> runs(List<String> console) {
        List<JvfioRun> runs = new ArrayList<>();
        String args = null;
        List<String> lines = new ArrayList<>();
        for (String l : console) {
            if (l.startsWith("JVFIO-RUN ")) {
                args = l.substring("JVFIO-RUN ".length());
                lines = new ArrayList<>();
            } else if (l.startsWith("JVFIO-STATUS ") && args != null) {
                runs.add(new JvfioRun(args, Integer.parseInt(l.split(" ")[1]), lines));
                args = null;
            } else if (args != null) {
                lines.add(l);
            }
        }
        return runs;
    }
}
