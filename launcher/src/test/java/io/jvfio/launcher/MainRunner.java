package io.jvfio.launcher;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/** {@link Main#run}, in process, for tests outside the launcher's package (its stdout, stderr and status). */
public final class MainRunner {

    public record Result(int status, String out, String err) {
    }

    private MainRunner() {
    }

    /** {@link Main#run} with streams of the caller's (a test that watches the output while it runs). */
    public static int run(PrintStream out, PrintStream err, String... args) {
        return Main.run(args, out, err);
    }

    public static Result run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }
}
