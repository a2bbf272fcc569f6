package io.jvfio.qmp;

import io.jvfio.kvm.KvmVcpu;
import io.jvfio.kvm.Vcpus;
import io.jvfio.machine.VirtualMachine;
import io.jvfio.migration.MigrationControl;
import io.jvfio.migration.VcpuControl;
import io.jvfio.vmm.migration.MigrationException;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeoutException;

/**
 * The machine's run state (QEMU's RunState, of which jvfio has {@code running}, {@code paused},
 * {@code shutdown}, and a migration's {@code inmigrate}, {@code finish-migrate} and {@code postmigrate}) and what {@code stop}, {@code cont} and {@code system_reset} do to it.
 *
 * <p>On KVM, {@code stop} ends every vCPU's run loop (each is kicked out of KVM_RUN, {@link Vcpus#stopAll})
 * and waits for the threads; {@code cont} starts them again, and KVM_RUN goes on from the registers the
 * vCPUs stopped with (KVM keeps them in the vCPU; nothing is saved or loaded). Without KVM
 * ({@code -accel none}) there is no vCPU and no guest code: the devices are driven by the host-side
 * driver; {@code stop} and {@code cont} then only switch the run state (and send their events), which is
 * all there is to pause. While the built-in driver runs its steps (the monitor is open from the machine's
 * start, as QEMU's is), the launcher holds the run state: the driver drives the vCPUs and the devices
 * itself, so {@code stop}, {@code cont} and {@code system_reset} are refused until it is done.
 *
 * <p>{@code system_reset} resets the devices through their own reset paths (the host bridge's reset:
 * every BAR stops decoding, then each function resets, a passed-through one by VFIO_DEVICE_RESET or its
 * vfio-user equivalent), with the vCPUs stopped meanwhile so that none is inside a device. The vCPUs are
 * not put back to their reset state (jvfio has no firmware to start them at): they go on where they
 * were, and a guest must expect its devices reset under it.
 */
final class RunControl {

    /** QEMU's RunState names. */
    enum State {
        RUNNING("running"), PAUSED("paused"), SHUTDOWN("shutdown"), INMIGRATE("inmigrate"),
        FINISH_MIGRATE("finish-migrate"), POSTMIGRATE("postmigrate");

        final String qapi;

        State(String qapi) {
            this.qapi = qapi;
        }
    }

    /** How long a stop waits for the vCPUs (each is kicked out of the kernel at once). */
    static final Duration STOP_TIMEOUT = Duration.ofSeconds(10);

    private final VirtualMachine vm;
    private final MigrationControl migration;
    private State state;
    private String held;
    /** The state a migration's stop left, to go back to if it fails. */
    private State beforeMigration;

    RunControl(VirtualMachine vm, MigrationControl migration) {
        this.vm = vm;
        this.migration = migration;
        // A machine that awaits an incoming migration runs nothing until it is loaded (QEMU's inmigrate).
        this.state = migration.awaitingIncoming() ? State.INMIGRATE : State.RUNNING;
    }

    synchronized QmpMonitor.Hold hold(String reason) {
        held = reason;
        return () -> {
            synchronized (RunControl.this) {
                held = null;
            }
        };
    }

    void checkNotHeld(String command) throws QmpError {
        if (held != null) {
            throw QmpError.generic(held + ": " + command + " is refused until they end; send it again then "
                    + "(query-status and the other queries are answered meanwhile)");
        }
    }

    synchronized State state() {
        return state;
    }

    /** Pauses the vCPUs; false if the machine was not running (QEMU then sends no STOP). */
    synchronized boolean stop() throws QmpError {
        checkNotHeld("stop");
        if (state != State.RUNNING) {
            return false;
        }
        stopVcpus();
        state = State.PAUSED;
        return true;
    }

    /** Resumes the vCPUs; false if they were running already. */
    synchronized boolean cont() throws QmpError {
        checkNotHeld("cont");
        if (state == State.SHUTDOWN) {
            throw QmpError.generic("Resetting the Virtual Machine is required"); // QEMU's (qmp_cont)
        }
        if (state == State.FINISH_MIGRATE) {
            throw QmpError.generic("Migration is not finalized yet"); // QEMU's (qmp_cont)
        }
        if (state == State.INMIGRATE) {
            // As QEMU's qmp_cont, which sets autostart: the machine runs once the incoming migration is loaded,
            // which a jvfio destination does anyway (the launcher starts its vCPUs then).
            return true;
        }
        if (state == State.RUNNING) {
            return false;
        }
        if (state == State.POSTMIGRATE) {
            // The source runs again after a completed migration (QEMU allows it): its parts were left paused.
            migration.resumeAfterCompletion();
        }
        startVcpus();
        state = State.RUNNING;
        return true;
    }

    /** Resets the devices, the vCPUs stopped meanwhile; a paused machine stays paused. */
    synchronized void reset() throws QmpError {
        checkNotHeld("system_reset");
        if (state == State.FINISH_MIGRATE || state == State.INMIGRATE) {
            // The migration's thread is taking (or loading) the devices' state: a reset now would tear it.
            throw QmpError.generic("system_reset is refused while a migration takes or loads the machine's "
                    + "state (run state " + state.qapi + "); send it again once query-migrate reports it ended");
        }
        boolean wasRunning = state == State.RUNNING;
        if (wasRunning) {
            stopVcpus();
        }
        try {
            vm.bridge().reset();
        } catch (RuntimeException e) {
            throw QmpError.generic("A device failed to reset: " + e.getMessage());
        } finally {
            if (wasRunning) {
                startVcpus();
            }
        }
    }

    /**
     * How an outgoing migration stops and restarts the vCPUs through this run state: {@code finish-migrate}
     * with {@code STOP} at the stop, {@code postmigrate} once completed, the state before (and {@code RESUME}
     * if it ran) after a failure. {@code migrate} itself is refused while the launcher holds the run state
     * (the built-in driver's steps run); its migration step, which runs across a migration, comes after them.
     */
    VcpuControl migrationVcpus(QmpMonitor monitor) {
        return new VcpuControl() {
            @Override
            public boolean stopForMigration() {
                boolean wasRunning;
                synchronized (RunControl.this) {
                    wasRunning = state == State.RUNNING;
                    if (wasRunning) {
                        try {
                            stopVcpus();
                        } catch (QmpError e) {
                            throw new MigrationException(e.getMessage(), e);
                        }
                    }
                    beforeMigration = state;
                    state = State.FINISH_MIGRATE;
                }
                if (wasRunning) {
                    monitor.event("STOP", null);
                }
                return wasRunning;
            }

            @Override
            public void resumeAfterFailure(boolean wereRunning) {
                synchronized (RunControl.this) {
                    if (state != State.FINISH_MIGRATE) {
                        return;
                    }
                    if (wereRunning) {
                        startVcpus();
                    }
                    state = beforeMigration;
                }
                if (wereRunning) {
                    monitor.event("RESUME", null);
                }
            }

            @Override
            public void completed() {
                synchronized (RunControl.this) {
                    state = State.POSTMIGRATE;
                }
            }
        };
    }

    /** The incoming migration completed: an {@code inmigrate} machine runs; true if it was one. */
    synchronized boolean incomingCompleted() {
        if (state != State.INMIGRATE) {
            return false;
        }
        state = State.RUNNING;
        return true;
    }

    /** The machine is going away (quit): nothing runs any more. */
    synchronized void shutdown() {
        state = State.SHUTDOWN;
    }

    private void stopVcpus() throws QmpError {
        Vcpus vcpus = vm.vcpus();
        if (vcpus == null || !vcpus.running()) {
            return;
        }
        vcpus.stopAll();
        try {
            List<KvmVcpu.Stop> stops = vcpus.awaitAll(STOP_TIMEOUT);
            assert stops.size() == vcpus.size();
        } catch (TimeoutException e) {
            throw QmpError.generic("The vCPUs did not stop: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw QmpError.generic("Interrupted while stopping the vCPUs");
        } catch (RuntimeException e) {
            throw QmpError.generic("A vCPU failed: " + e.getMessage());
        }
    }

    private void startVcpus() {
        Vcpus vcpus = vm.vcpus();
        if (vcpus != null && !vcpus.running()) {
            vcpus.start(vm.space());
        }
    }
}
