package io.jvfio.launcher;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The step lines of a driver report, read back by the tests: label to "STATUS detail". */
final class ReportSteps {

    private ReportSteps() {
    }

    static Map<String, String> of(List<String> lines) {
        Map<String, String> steps = new LinkedHashMap<>();
        boolean in = false;
        for (String line : lines) {
            if (line.equals("steps:")) {
                in = true;
            } else if (in && line.startsWith("  ")) {
                String[] f = line.trim().split("\\s+", 3);
                steps.put(f[1], f[0] + " " + f[2]);
            } else {
                in = false;
            }
        }
        return steps;
    }
}
