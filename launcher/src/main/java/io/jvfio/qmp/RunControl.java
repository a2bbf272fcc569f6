package io.jvfio.qmp;

import io.jvfio.kvm.KvmVcpu;
import io.jvfio.kvm.Vcpus;
import io.jvfio.machine.VirtualMachine;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeoutException;

/**
 * The machine's run state (QEMU's RunState, of which jvfio has {@code running}, {@code paused} and
 * {@code shutdown}) and what {@code stop}, {@code cont} and {@code system_reset} do to it.
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
        RUNNING("running"), PAUSED("paused"), SHUTDOWN("shutdown");

        final String qapi;

        State(String qapi) {
            this.qapi = qapi;
        }
    }

    /** How long a stop waits for the vCPUs (each is kicked out of the kernel at once). */
    static final Duration STOP_TIMEOUT = Duration.ofSeconds(10);

    private final VirtualMachine vm;
    private State state = State.RUNNING;
    private String held;

    RunControl(VirtualMachine vm) {
        this.vm = vm;
    }

    synchronized QmpMonitor.Hold hold(String reason) {
        held = reason;
        return () -> {
            synchronized (RunControl.this) {
                held = null;
            }
        };
    }

    private void checkNotHeld(String command) throws QmpError {
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
        if (state == State.RUNNING) {
            return false;
        }
        startVcpus();
        state = State.RUNNING;
        return true;
    }

    /** Resets the devices, the vCPUs stopped meanwhile; a paused machine stays paused. */
    synchronized void reset() throws QmpError {
        checkNotHeld("system_reset");
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
