package io.jvfio.vfio.migration;

import io.jvfio.vfio.VfioException;
import org.junit.jupiter.api.Test;

import java.util.ArrayDeque;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static io.jvfio.vfio.migration.MigrationState.ERROR;
import static io.jvfio.vfio.migration.MigrationState.PRE_COPY;
import static io.jvfio.vfio.migration.MigrationState.PRE_COPY_P2P;
import static io.jvfio.vfio.migration.MigrationState.RESUMING;
import static io.jvfio.vfio.migration.MigrationState.RUNNING;
import static io.jvfio.vfio.migration.MigrationState.RUNNING_P2P;
import static io.jvfio.vfio.migration.MigrationState.STOP;
import static io.jvfio.vfio.migration.MigrationState.STOP_COPY;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_MIGRATION_P2P;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_MIGRATION_PRE_COPY;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_MIGRATION_STOP_COPY;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The walk against linux/vfio.h's own description, not against the table it is built from: the arcs
 * the header lists (with a state a device lacks standing for its fully running equivalent, as the
 * header says), and its rule for combinations, the shortest path with no saving state (PRE_COPY,
 * PRE_COPY_P2P, STOP_COPY) inside it unless it starts in one, found here by a breadth-first search.
 */
class MigrationStateMachineTest {

    private static final int ALL = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P | VFIO_MIGRATION_PRE_COPY;
    private static final int[] FLAG_SETS = {VFIO_MIGRATION_STOP_COPY, VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P,
            VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_PRE_COPY, ALL};
    private static final Set<MigrationState> SAVING = EnumSet.of(PRE_COPY, PRE_COPY_P2P, STOP_COPY);

    /** The arcs linux/vfio.h lists for a device with every optional state. */
    private static final MigrationState[][] HEADER_ARCS = {
            {RUNNING_P2P, STOP}, {STOP_COPY, STOP}, {RESUMING, STOP}, {PRE_COPY, RUNNING}, {RUNNING_P2P, RUNNING},
            {PRE_COPY_P2P, RUNNING_P2P}, {RUNNING, RUNNING_P2P}, {STOP, RUNNING_P2P}, {RUNNING, PRE_COPY},
            {RUNNING_P2P, PRE_COPY_P2P}, {STOP, STOP_COPY}, {PRE_COPY, PRE_COPY_P2P}, {PRE_COPY_P2P, PRE_COPY},
            {PRE_COPY_P2P, STOP_COPY}, {STOP, RESUMING}};

    /** A state the device lacks behaves as its fully running equivalent (P2P) or is gone (PRE_COPY). */
    private static MigrationState as(MigrationState s, int flags) {
        if ((flags & VFIO_MIGRATION_P2P) == 0) {
            if (s == RUNNING_P2P) {
                return RUNNING;
            }
            if (s == PRE_COPY_P2P) {
                return PRE_COPY;
            }
        }
        return s;
    }

    private static Map<MigrationState, Set<MigrationState>> arcs(int flags) {
        Map<MigrationState, Set<MigrationState>> arcs = new EnumMap<>(MigrationState.class);
        for (MigrationState s : MigrationState.values()) {
            arcs.put(s, EnumSet.noneOf(MigrationState.class));
        }
        for (MigrationState[] a : HEADER_ARCS) {
            MigrationState from = as(a[0], flags);
            MigrationState to = as(a[1], flags);
            if (from != to && from.supportedBy(flags) && to.supportedBy(flags)) {
                arcs.get(from).add(to);
            }
        }
        return arcs;
    }

    /** The header's rule: the fewest arcs, a saving state only at either end; -1 if none. */
    private static int shortest(Map<MigrationState, Set<MigrationState>> arcs, MigrationState from, MigrationState to) {
        Map<MigrationState, Integer> distance = new EnumMap<>(MigrationState.class);
        ArrayDeque<MigrationState> queue = new ArrayDeque<>(List.of(from));
        distance.put(from, 0);
        while (!queue.isEmpty()) {
            MigrationState at = queue.poll();
            if (at == to) {
                return distance.get(at);
            }
            // A walk that starts saving may go on saving (PRE_COPY -> PRE_COPY_P2P -> STOP_COPY keeps the
            // one data stream, as the kernel's table does); any other may not pass through a saving state.
            if (at != from && SAVING.contains(at) && !SAVING.contains(from)) {
                continue;
            }
            for (MigrationState n : arcs.get(at)) {
                if (!distance.containsKey(n)) {
                    distance.put(n, distance.get(at) + 1);
                    queue.add(n);
                }
            }
        }
        return -1;
    }

    @Test
    void everyWalkIsMadeOfTheHeadersArcsAndIsAShortestOne() {
        int walks = 0;
        for (int flags : FLAG_SETS) {
            MigrationStateMachine fsm = new MigrationStateMachine(flags);
            Map<MigrationState, Set<MigrationState>> arcs = arcs(flags);
            for (MigrationState from : MigrationState.values()) {
                for (MigrationState to : MigrationState.values()) {
                    if (from == ERROR || to == ERROR || from == to || !from.supportedBy(flags) || !to.supportedBy(flags)) {
                        continue;
                    }
                    // "STOP_COPY -> PRE_COPY, STOP_COPY -> PRE_COPY_P2P: These arcs are not permitted"
                    boolean forbidden = from == STOP_COPY && (to == PRE_COPY || to == PRE_COPY_P2P);
                    int expected = forbidden ? -1 : shortest(arcs, from, to);
                    String what = from + " -> " + to + " with " + MigrationFlags.describe(flags);
                    if (expected < 0) {
                        assertThrows(VfioException.class, () -> fsm.path(from, to), what);
                        continue;
                    }
                    List<MigrationState> path = fsm.path(from, to);
                    assertEquals(expected, path.size(), what + ": " + path);
                    MigrationState at = from;
                    for (MigrationState step : path) {
                        assertTrue(arcs.get(at).contains(step), what + ": " + at + " -> " + step + " is no arc in " + path);
                        at = step;
                    }
                    walks++;
                }
            }
        }
        assertTrue(walks > 80, "only " + walks + " walks checked");
    }

    @Test
    void theHeadersExamplesOfCombinations() {
        MigrationStateMachine all = new MigrationStateMachine(ALL);
        assertEquals(List.of(RUNNING_P2P, STOP, STOP_COPY), all.path(RUNNING, STOP_COPY));
        assertEquals(List.of(STOP, RESUMING), all.path(STOP_COPY, RESUMING));
        assertEquals(List.of(RUNNING_P2P, RUNNING, PRE_COPY), all.path(STOP, PRE_COPY));
        MigrationStateMachine plain = new MigrationStateMachine(VFIO_MIGRATION_STOP_COPY);
        assertEquals(List.of(STOP, STOP_COPY), plain.path(RUNNING, STOP_COPY), "RUNNING_P2P passed over");
        assertEquals(List.of(STOP, RUNNING), plain.path(RESUMING, RUNNING));
    }

    @Test
    void forbiddenAndMissingStatesAreRefusedWithTheReason() {
        MigrationStateMachine all = new MigrationStateMachine(ALL);
        assertTrue(assertThrows(VfioException.class, () -> all.next(STOP_COPY, PRE_COPY)).getMessage()
                .contains("STOP_COPY"));
        assertTrue(assertThrows(VfioException.class, () -> all.next(RUNNING, ERROR)).getMessage()
                .contains("not a state to ask for"));
        assertTrue(assertThrows(VfioException.class, () -> all.next(ERROR, RUNNING)).getMessage()
                .contains("reset"));
        MigrationStateMachine plain = new MigrationStateMachine(VFIO_MIGRATION_STOP_COPY);
        assertTrue(assertThrows(VfioException.class, () -> plain.next(RUNNING, PRE_COPY)).getMessage()
                .contains("needs STOP_COPY|PRE_COPY"));
        assertThrows(VfioException.class, () -> new MigrationStateMachine(VFIO_MIGRATION_PRE_COPY));
    }

    @Test
    void statesCarryTheHeadersNumbers() {
        for (MigrationState s : MigrationState.values()) {
            assertEquals(s, MigrationState.of(s.value));
        }
        assertEquals(6, PRE_COPY.value);
        assertThrows(VfioException.class, () -> MigrationState.of(8));
    }
}
