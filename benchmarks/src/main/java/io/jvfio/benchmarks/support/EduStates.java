package io.jvfio.benchmarks.support;

import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/** JMH states holding an {@link EduMachine}, one per back end, for the benchmarks that drive it. */
public final class EduStates {

    private EduStates() {
    }

    /** The edu device in-process: the model calls into it. */
    @State(Scope.Benchmark)
    public static class InProcess {
        public EduMachine machine;

        @Setup(Level.Trial)
        public void setup() {
            machine = new EduMachine(EduMachine.Transport.IN_PROCESS);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            machine.close();
        }
    }

    /** The edu device over vfio-user: a server and a client in this process, on a UNIX socket. */
    @State(Scope.Benchmark)
    public static class VfioUser {
        public EduMachine machine;

        @Setup(Level.Trial)
        public void setup() {
            machine = new EduMachine(EduMachine.Transport.VFIO_USER);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            machine.close();
        }
    }
}
