package io.jvfio.migration;

import io.jvfio.machine.VirtualMachine;
import io.jvfio.memory.GuestRegion;
import io.jvfio.vmm.migration.MigrationException;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What the stream says of the machine it carries, checked by the destination against its own before it
 * loads anything: the stream format, the source's jvfio version, the accelerator, the vCPUs, the RAM
 * regions and each part's name and {@linkplain io.jvfio.vmm.migration.Migratable#stateId state id}, in
 * order. The destination attaches the same devices from its own command line (as QEMU's does), so any
 * difference is refused, with one message naming it.
 */
public record StreamHeader(int format, String jvfioVersion, String accelerator, int vcpus, List<Region> ram,
                           List<PartId> parts) {

    /** A RAM region: its guest-physical start and size. */
    public record Region(long gpa, long size) {
        @Override
        public String toString() {
            return "0x" + Long.toHexString(gpa) + "+" + Sizes.of(size);
        }
    }

    /** A part: its name and state id. */
    public record PartId(String name, String stateId) {
    }

    public StreamHeader {
        ram = List.copyOf(ram);
        parts = List.copyOf(parts);
    }

    /** The header of {@code vm} with {@code parts}, as this jvfio writes it. */
    static StreamHeader of(VirtualMachine vm, List<VirtualMachine.Part> parts, String jvfioVersion) {
        List<Region> regions = new ArrayList<>();
        for (GuestRegion r : vm.memory().ram().regions()) {
            regions.add(new Region(r.start(), r.size()));
        }
        List<PartId> ids = new ArrayList<>();
        for (VirtualMachine.Part p : parts) {
            ids.add(new PartId(p.name(), p.part().stateId()));
        }
        return new StreamHeader(StreamFormat.VERSION, jvfioVersion, accelerator(vm), vm.vcpuCount(), regions, ids);
    }

    private static String accelerator(VirtualMachine vm) {
        return vm.accelerator() == VirtualMachine.Accelerator.KVM ? "kvm" : "none";
    }

    long ramSize() {
        return ram.stream().mapToLong(Region::size).sum();
    }

    void write(DataOutput out) throws IOException {
        out.write(StreamFormat.MAGIC);
        out.writeInt(format);
        out.writeUTF(jvfioVersion);
        out.writeUTF(accelerator);
        out.writeInt(vcpus);
        out.writeInt(ram.size());
        for (Region r : ram) {
            out.writeLong(r.gpa());
            out.writeLong(r.size());
        }
        out.writeInt(parts.size());
        for (PartId p : parts) {
            out.writeUTF(p.name());
            out.writeUTF(p.stateId());
        }
    }

    /**
     * Reads a header; a stream that is not jvfio's, or of another format, is refused here (nothing after
     * the format version can be read in another format).
     */
    static StreamHeader read(DataInput in, String myVersion) throws IOException {
        byte[] magic = new byte[StreamFormat.MAGIC.length];
        in.readFully(magic);
        if (!Arrays.equals(magic, StreamFormat.MAGIC)) {
            throw new MigrationException("the stream is not a jvfio migration stream: it starts with "
                    + hex(magic) + ", not \"JVFIOMIG\" (migrate from a jvfio source to a jvfio destination)");
        }
        int format = in.readInt();
        if (format != StreamFormat.VERSION) {
            throw new MigrationException("the stream is format " + format + ", this jvfio (" + myVersion
                    + ") reads format " + StreamFormat.VERSION + ": migrate between jvfio versions of one stream format");
        }
        String version = in.readUTF();
        String accelerator = in.readUTF();
        int vcpus = in.readInt();
        int regions = count(in.readInt(), "RAM regions", 1024);
        List<Region> ram = new ArrayList<>();
        for (int i = 0; i < regions; i++) {
            ram.add(new Region(in.readLong(), in.readLong()));
        }
        int n = count(in.readInt(), "parts", 65536);
        List<PartId> parts = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            parts.add(new PartId(in.readUTF(), in.readUTF()));
        }
        return new StreamHeader(format, version, accelerator, vcpus, ram, parts);
    }

    private static int count(int n, String what, int max) {
        if (n < 0 || n > max) {
            throw new MigrationException("the stream's header is corrupt: it claims " + n + " " + what);
        }
        return n;
    }

    private static String hex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) {
            s.append(String.format("%02x", x));
        }
        return s.toString();
    }

    /**
     * Refuses a stream for another machine than {@code mine} with one message naming the first difference:
     * the accelerator, the vCPUs, the RAM, a part.
     */
    void check(StreamHeader mine) {
        if (!accelerator.equals(mine.accelerator)) {
            throw new MigrationException("the accelerator differs: the stream's machine ran on -accel " + accelerator
                    + ", this machine on -accel " + mine.accelerator);
        }
        if (vcpus != mine.vcpus) {
            throw new MigrationException("the vCPUs differ: the stream's machine has " + vcpus + ", this machine "
                    + mine.vcpus + " (give -smp " + vcpus + ")");
        }
        if (ramSize() != mine.ramSize()) {
            throw new MigrationException("RAM differs: the stream's is " + Sizes.of(ramSize()) + ", this machine's "
                    + Sizes.of(mine.ramSize()) + " (give -m " + Sizes.of(ramSize()).replace(" ", "").replace("iB", "")
                    + ")");
        }
        if (!ram.equals(mine.ram)) {
            throw new MigrationException("RAM differs: the stream's regions are " + ram + ", this machine's " + mine.ram);
        }
        for (int i = 0; i < Math.max(parts.size(), mine.parts.size()); i++) {
            PartId theirs = i < parts.size() ? parts.get(i) : null;
            PartId ours = i < mine.parts.size() ? mine.parts.get(i) : null;
            if (theirs == null) {
                throw new MigrationException(what(ours.name()) + " '" + ours.name() + "' (" + ours.stateId()
                        + ") is not in the stream: the source's machine has no such part (remove it from this command line)");
            }
            if (ours == null) {
                throw new MigrationException("the stream has " + what(theirs.name()) + " '" + theirs.name() + "' ("
                        + theirs.stateId() + "), this machine has none: attach the same device here, in the same order");
            }
            if (!theirs.name().equals(ours.name())) {
                throw new MigrationException("part " + i + " differs: the stream's is " + what(theirs.name()) + " '"
                        + theirs.name() + "' (" + theirs.stateId() + "), this machine's " + what(ours.name()) + " '"
                        + ours.name() + "' (" + ours.stateId() + "): attach the same devices, with the same ids, in the "
                        + "same order");
            }
            if (!theirs.stateId().equals(ours.stateId())) {
                throw new MigrationException(what(theirs.name()) + " '" + theirs.name() + "' differs: the stream's is "
                        + theirs.stateId() + ", this machine's " + ours.stateId());
            }
        }
    }

    private static String what(String partName) {
        return switch (partName) {
            case "machine", "apics", "ioapic" -> "part";
            default -> "device";
        };
    }

    /** Sizes as the messages print them. */
    static final class Sizes {
        private Sizes() {
        }

        static String of(long bytes) {
            if (bytes >= 1L << 30 && bytes % (1L << 30) == 0) {
                return (bytes >> 30) + " GiB";
            }
            if (bytes >= 1L << 20 && bytes % (1L << 20) == 0) {
                return (bytes >> 20) + " MiB";
            }
            if (bytes >= 1L << 10 && bytes % (1L << 10) == 0) {
                return (bytes >> 10) + " KiB";
            }
            return bytes + " bytes";
        }
    }
}
