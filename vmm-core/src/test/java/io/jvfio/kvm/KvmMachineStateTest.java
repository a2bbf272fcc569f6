package io.jvfio.kvm;

import io.jvfio.vmm.migration.MigrationException;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The binary form of a KVM machine's state, without KVM: what is written is read back, and what is not is refused. */
class KvmMachineStateTest {

    private static KvmMachineState sample() {
        Map<String, byte[]> v0 = new LinkedHashMap<>();
        v0.put(VcpuState.REGS, new byte[] {1, 2, 3});
        v0.put(VcpuState.MSRS, new byte[0]);
        Map<String, byte[]> v1 = new LinkedHashMap<>();
        v1.put(VcpuState.LAPIC, new byte[] {9});
        Map<String, byte[]> vm = new LinkedHashMap<>();
        vm.put(VmState.CLOCK, new byte[] {4, 5});
        return new KvmMachineState(List.of(new VcpuState(0, v0), new VcpuState(1, v1)), new VmState(vm));
    }

    @Test
    void whatIsWrittenIsReadBack() {
        byte[] bytes = sample().encode();
        KvmMachineState back = KvmMachineState.decode(bytes);
        assertEquals(2, back.vcpus().size());
        assertEquals(1, back.vcpus().get(1).id());
        assertEquals(List.of(VcpuState.REGS, VcpuState.MSRS), List.copyOf(back.vcpus().get(0).sections().keySet()));
        assertArrayEquals(new byte[] {1, 2, 3}, back.vcpus().get(0).sections().get(VcpuState.REGS));
        assertArrayEquals(new byte[] {4, 5}, back.vm().sections().get(VmState.CLOCK));
        assertArrayEquals(bytes, back.encode());
    }

    @Test
    void anotherVersionIsRefusedSayingWhichItIs() {
        byte[] bytes = sample().encode();
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(KvmMachineState.VERSION_OFFSET, 7);
        MigrationException e = assertThrows(MigrationException.class, () -> KvmMachineState.decode(bytes));
        assertTrue(e.getMessage().contains("format version 7, this jvfio reads version 1"), e.getMessage());
    }

    @Test
    void otherBytesAndTruncatedStatesAreRefused() {
        MigrationException e = assertThrows(MigrationException.class,
                () -> KvmMachineState.decode("not a state at all".getBytes()));
        assertTrue(e.getMessage().contains("not a KVM machine state"), e.getMessage());
        byte[] bytes = sample().encode();
        for (int cut : new int[] {4, 12, bytes.length - 1}) {
            byte[] truncated = Arrays.copyOf(bytes, cut);
            assertThrows(MigrationException.class, () -> KvmMachineState.decode(truncated), "cut at " + cut);
        }
        byte[] longer = Arrays.copyOf(bytes, bytes.length + 3);
        e = assertThrows(MigrationException.class, () -> KvmMachineState.decode(longer));
        assertTrue(e.getMessage().contains("3 bytes after its end"), e.getMessage());
    }
}
