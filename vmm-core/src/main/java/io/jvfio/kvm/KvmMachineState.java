package io.jvfio.kvm;

import io.jvfio.vmm.migration.MigrationException;

import java.io.ByteArrayOutputStream;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The state of a {@link KvmMachine} (each vCPU's {@link VcpuState}, the VM's {@link VmState}) and its
 * binary form, which {@link KvmMachine#snapshot} returns and {@link KvmMachine#restore} takes. Little
 * endian throughout:
 *
 * <pre>
 *   magic    "JVFIOKVM" (8 bytes)
 *   version  u32, {@value #VERSION}
 *   vcpus    u32, then for each vCPU: its id (u32) and its sections
 *   the VM's sections
 *   sections: u32 count, then each: name (u16 length, UTF-8), u32 length, the bytes (the kernel's struct)
 * </pre>
 *
 * A state of another version, another vCPU count or vCPU ids, or a section that does not fit is
 * refused with a {@link MigrationException} saying what differs.
 */
final class KvmMachineState {

    static final byte[] MAGIC = "JVFIOKVM".getBytes(StandardCharsets.US_ASCII);
    /** The format this code writes and the only one it reads. */
    static final int VERSION = 1;
    /** Where the version lies, after the magic. */
    static final int VERSION_OFFSET = MAGIC.length;

    private final List<VcpuState> vcpus;
    private final VmState vm;

    KvmMachineState(List<VcpuState> vcpus, VmState vm) {
        this.vcpus = List.copyOf(vcpus);
        this.vm = vm;
    }

    List<VcpuState> vcpus() {
        return vcpus;
    }

    VmState vm() {
        return vm;
    }

    /** Reads the state of every vCPU of {@code machine} (stopped) and of its VM. */
    static KvmMachineState capture(KvmMachine machine) {
        List<VcpuState> states = new ArrayList<>();
        for (KvmVcpu v : machine.vcpus().vcpus()) {
            states.add(VcpuState.capture(v));
        }
        return new KvmMachineState(states, VmState.capture(machine.vm()));
    }

    /**
     * Puts this state into {@code machine} (vCPUs not running): the VM's irqchip, each vCPU, then the
     * clock last of all.
     *
     * @throws MigrationException if the vCPUs differ in number or ids, or a section does not fit
     */
    void restore(KvmMachine machine) {
        List<KvmVcpu> targets = machine.vcpus().vcpus();
        if (vcpus.size() != targets.size()) {
            throw new MigrationException("the state has " + count(vcpus.size()) + ", this machine " + targets.size()
                    + ": start the destination with -smp " + vcpus.size());
        }
        for (int i = 0; i < vcpus.size(); i++) {
            if (vcpus.get(i).id() != targets.get(i).id()) {
                throw new MigrationException("the state's vCPU " + i + " has id " + vcpus.get(i).id() + ", this machine's "
                        + targets.get(i).id());
            }
        }
        for (int i = 0; i < vcpus.size(); i++) {
            vcpus.get(i).restore(targets.get(i));
        }
        vm.restore(machine.vm());
    }

    private static String count(int n) {
        return n + (n == 1 ? " vCPU" : " vCPUs");
    }

    byte[] encode() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(MAGIC);
        u32(out, VERSION);
        u32(out, vcpus.size());
        for (VcpuState v : vcpus) {
            u32(out, v.id());
            sections(out, v.sections());
        }
        sections(out, vm.sections());
        return out.toByteArray();
    }

    private static void sections(ByteArrayOutputStream out, Map<String, byte[]> sections) {
        u32(out, sections.size());
        for (Map.Entry<String, byte[]> e : sections.entrySet()) {
            byte[] name = e.getKey().getBytes(StandardCharsets.UTF_8);
            out.write(name.length & 0xff);
            out.write(name.length >>> 8);
            out.writeBytes(name);
            u32(out, e.getValue().length);
            out.writeBytes(e.getValue());
        }
    }

    private static void u32(ByteArrayOutputStream out, int v) {
        for (int i = 0; i < 4; i++) {
            out.write(v >>> (8 * i));
        }
    }

    /**
     * Reads a state {@link #encode} wrote.
     *
     * @throws MigrationException if the bytes are not such a state, or one of another format version
     */
    static KvmMachineState decode(byte[] state) {
        ByteBuffer in = ByteBuffer.wrap(state).order(ByteOrder.LITTLE_ENDIAN);
        try {
            byte[] magic = new byte[MAGIC.length];
            in.get(magic);
            if (!java.util.Arrays.equals(magic, MAGIC)) {
                throw new MigrationException("not a KVM machine state (it does not start with \"JVFIOKVM\")");
            }
            int version = in.getInt();
            if (version != VERSION) {
                throw new MigrationException("the KVM machine state is of format version " + Integer.toUnsignedString(version)
                        + ", this jvfio reads version " + VERSION + ": migrate between the same jvfio versions");
            }
            int n = in.getInt();
            if (n < 0 || n > in.remaining()) {
                throw new MigrationException("the KVM machine state says it has " + Integer.toUnsignedString(n)
                        + " vCPUs in " + state.length + " bytes: it is corrupt");
            }
            List<VcpuState> vcpus = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int id = in.getInt();
                vcpus.add(new VcpuState(id, sections(in)));
            }
            VmState vm = new VmState(sections(in));
            if (in.hasRemaining()) {
                throw new MigrationException("the KVM machine state has " + in.remaining() + " bytes after its end");
            }
            return new KvmMachineState(vcpus, vm);
        } catch (BufferUnderflowException | IllegalArgumentException e) {
            throw new MigrationException("the KVM machine state ends early or is corrupt (" + state.length + " bytes)", e);
        }
    }

    private static Map<String, byte[]> sections(ByteBuffer in) {
        int count = in.getInt();
        if (count < 0 || count > in.remaining()) {
            throw new MigrationException("the KVM machine state has a section count of " + Integer.toUnsignedString(count)
                    + " with " + in.remaining() + " bytes left: it is corrupt");
        }
        Map<String, byte[]> sections = new LinkedHashMap<>();
        for (int i = 0; i < count; i++) {
            byte[] name = new byte[in.getShort() & 0xffff];
            in.get(name);
            int length = in.getInt();
            if (length < 0 || length > in.remaining()) {
                throw new MigrationException("the KVM machine state's section \"" + new String(name, StandardCharsets.UTF_8)
                        + "\" is " + Integer.toUnsignedString(length) + " bytes with " + in.remaining() + " left");
            }
            byte[] bytes = new byte[length];
            in.get(bytes);
            sections.put(new String(name, StandardCharsets.UTF_8), bytes);
        }
        return sections;
    }
}
