package io.jvfio.vmm.testing;

import io.jvfio.kvm.Kvm;

import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * What a test needs from the machine (KVM, a C compiler, the nested VM, QEMU 11, util-linux's setpriv,
 * huge pages), and what happens where it is missing: the test is skipped with the reason, said on
 * stderr, unless the prerequisite's system property says {@code required}, when it fails instead.
 * {@code ./run-tests} requires every prerequisite a fresh machine can be given (all but
 * {@code jvfio.hugepages}; the README's test section lists them), so a prerequisite missing there is a
 * failure, never a silent skip.
 */
public final class Prerequisites {

    /** The property that makes a missing /dev/kvm fail the tests that need it. */
    public static final String KVM = "jvfio.kvm";

    private Prerequisites() {
    }

    /** Whether {@code property} is {@code required}. */
    public static boolean required(String property) {
        return "required".equals(System.getProperty(property));
    }

    /**
     * The prerequisite named by {@code property} is missing, for {@code why} (which names the fix):
     * fails the test where it is required, else skips it. Never returns.
     */
    public static RuntimeException missing(String property, String why) {
        if (required(property)) {
            Assertions.fail(why + " (-D" + property + "=required)");
        }
        // Said on stderr too: Maven counts a skipped test but prints its reason only in the reports.
        System.err.println("SKIPPED (a prerequisite is missing; -D" + property + "=required makes this a failure): "
                + why);
        Assumptions.abort(why);
        throw new AssertionError(why); // abort throws
    }

    /** Skips (or, where required, fails) the test unless /dev/kvm is usable ({@link Kvm#problem()}). */
    public static void requireKvm() {
        String problem = Kvm.problem();
        if (problem != null) {
            throw missing(KVM, Kvm.DEVICE + " is not usable here (" + problem + "): a machine with KVM (and "
                    + "read-write access to " + Kvm.DEVICE + ") runs this test");
        }
    }

    /**
     * For a test that runs on KVM where it can and without it in any case: whether to add the KVM
     * run. Where KVM is required and missing, fails instead of quietly testing less.
     */
    public static boolean kvmRunWanted() {
        String problem = Kvm.problem();
        if (problem != null && required(KVM)) {
            Assertions.fail(Kvm.DEVICE + " is not usable here (" + problem + "), and -D" + KVM + "=required");
        }
        return problem == null;
    }
}
