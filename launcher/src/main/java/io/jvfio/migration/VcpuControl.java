package io.jvfio.migration;

import io.jvfio.kvm.Vcpus;
import io.jvfio.machine.VirtualMachine;
import io.jvfio.vmm.migration.MigrationException;

import java.time.Duration;
import java.util.concurrent.TimeoutException;

/**
 * How an outgoing migration stops and restarts the guest's vCPUs: the QMP monitor's run state
 * ({@code finish-migrate}, {@code postmigrate}, back to {@code running}) where there is one, else the
 * machine's vCPUs directly ({@link #of}).
 */
public interface VcpuControl {

    /** Stops the vCPUs for the last round (QEMU's run state {@code finish-migrate}); returns whether they ran. */
    boolean stopForMigration();

    /** After a failed or cancelled migration: runs them again if they ran before the stop. */
    void resumeAfterFailure(boolean wereRunning);

    /** After a completed migration: the source stays stopped (QEMU's {@code postmigrate}). */
    default void completed() {
    }

    /** How long a stop waits for the vCPUs (each is kicked out of KVM_RUN at once). */
    Duration STOP_TIMEOUT = Duration.ofSeconds(10);

    /**
     * The machine's vCPUs stopped and started directly ({@link Vcpus#stopAll}, {@link Vcpus#awaitAll},
     * {@link Vcpus#start}); without KVM there are none and nothing runs guest code.
     */
    static VcpuControl of(VirtualMachine vm) {
        return new VcpuControl() {
            @Override
            public boolean stopForMigration() {
                Vcpus vcpus = vm.vcpus();
                if (vcpus == null || !vcpus.running()) {
                    return false;
                }
                vcpus.stopAll();
                try {
                    vcpus.awaitAll(STOP_TIMEOUT);
                } catch (TimeoutException e) {
                    throw new MigrationException("the vCPUs did not stop within " + STOP_TIMEOUT.toSeconds() + " s", e);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new MigrationException("interrupted while stopping the vCPUs", e);
                }
                return true;
            }

            @Override
            public void resumeAfterFailure(boolean wereRunning) {
                Vcpus vcpus = vm.vcpus();
                if (wereRunning && vcpus != null && !vcpus.running()) {
                    vcpus.start(vm.space());
                }
            }
        };
    }
}
