package io.jvfio.benchmarks.suite;

/**
 * The results a report shows: the host's run, and, where the host has no {@code /dev/kvm}, the KVM
 * groups' run in the nested VM. A group's rows take benchmark and baseline from one run, never one
 * from each: a ratio is only worth something between two figures measured side by side.
 */
record SuiteResults(RunResults host, RunResults nested) {

    /** The run a group's rows come from. */
    RunResults of(String group) {
        return nestedGroup(group) ? nested : host;
    }

    /** Whether the group's rows come from the nested VM's run. */
    boolean nestedGroup(String group) {
        return nested != null && Catalogue.KVM_GROUPS.contains(group);
    }
}
