package io.jvfio.launcher;

/** How the guest runs: on KVM, or without a vCPU, driven by the host-side driver. */
enum Accelerator {
    KVM("kvm"),
    NONE("none");

    private final String option;

    Accelerator(String option) {
        this.option = option;
    }

    /** The word {@code -accel} takes. */
    String option() {
        return option;
    }

    static Accelerator of(String option) {
        for (Accelerator a : values()) {
            if (a.option.equals(option)) {
                return a;
            }
        }
        throw new IllegalArgumentException(option);
    }
}
