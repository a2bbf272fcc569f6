package io.jvfio.vmm.migration;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * The bytes of a {@link Migratable#snapshot}, with the header every part's state opens with: a magic
 * number, the kind of state (the part's format, not its instance: {@code "IOAPIC"}) and the version of
 * that format, so that {@link #read} refuses another part's state or another version's, saying which
 * differs, before a byte of it is loaded. Layout (big-endian, as {@link DataOutputStream} writes it):
 * u32 magic "JVMS", the kind in modified UTF-8, u16 version, then the part's own fields; a reader must
 * consume exactly what the writer wrote ({@link Reader#end}).
 */
public final class SavedState {

    /** "JVMS" as the state's first four bytes. */
    public static final int MAGIC = 0x4a564d53;

    private SavedState() {
    }

    /** A writer of state of {@code kind}, format {@code version}: the header is written already. */
    public static Writer writer(String kind, int version) {
        Writer w = new Writer();
        w.u32(MAGIC);
        w.utf(kind);
        w.u16(version);
        return w;
    }

    /**
     * A reader of {@code state}, its header checked to be {@code kind}, version {@code version}.
     *
     * @throws MigrationException if it is not: not a jvfio state at all, another kind, another version
     */
    public static Reader read(byte[] state, String kind, int version) {
        Reader r = new Reader(state, kind);
        int magic;
        String got;
        int gotVersion;
        try {
            magic = r.in.readInt();
            if (magic != MAGIC) {
                throw new MigrationException("the " + kind + " state does not begin with a jvfio state header (magic 0x"
                        + Integer.toHexString(magic) + ", expected 0x" + Integer.toHexString(MAGIC) + " \"JVMS\"): "
                        + "restore the bytes a jvfio " + kind + " snapshot gave, from their first byte");
            }
            got = r.in.readUTF();
            gotVersion = r.in.readUnsignedShort();
        } catch (IOException e) {
            throw new MigrationException("the " + kind + " state ends within its header (" + state.length + " bytes): "
                    + "restore the whole snapshot", e);
        }
        if (!got.equals(kind)) {
            throw new MigrationException("the state is a '" + got + "' state, and this part takes '" + kind + "' state: "
                    + "the stream and this machine list their parts differently; start the destination with the "
                    + "source's devices and options");
        }
        if (gotVersion != version) {
            throw new MigrationException("the '" + kind + "' state is version " + gotVersion + " of its format, and "
                    + "this build loads version " + version + " only: migrate between jvfio builds whose '" + kind
                    + "' state version is the same");
        }
        return r;
    }

    /** Writes a state's fields after its header. */
    public static final class Writer {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private final DataOutputStream out = new DataOutputStream(bytes);

        private Writer() {
        }

        public Writer u8(int v) {
            return io(() -> out.writeByte(v));
        }

        public Writer u16(int v) {
            return io(() -> out.writeShort(v));
        }

        public Writer u32(int v) {
            return io(() -> out.writeInt(v));
        }

        public Writer u64(long v) {
            return io(() -> out.writeLong(v));
        }

        public Writer bool(boolean v) {
            return io(() -> out.writeBoolean(v));
        }

        public Writer utf(String v) {
            return io(() -> out.writeUTF(v));
        }

        /** A length (u32) and the bytes. */
        public Writer bytes(byte[] v) {
            return io(() -> {
                out.writeInt(v.length);
                out.write(v);
            });
        }

        /** The state, header and fields. */
        public byte[] toByteArray() {
            return bytes.toByteArray();
        }

        private interface Io {
            void run() throws IOException;
        }

        private Writer io(Io write) {
            try {
                write.run();
            } catch (IOException e) {
                throw new UncheckedIOException(e); // a ByteArrayOutputStream does not fail
            }
            return this;
        }
    }

    /**
     * Reads a state's fields after its header. A state shorter than its fields is refused with a
     * {@link MigrationException}, as is one with bytes left over ({@link #end}).
     */
    public static final class Reader {
        private final DataInputStream in;
        private final String kind;
        private final int length;

        private Reader(byte[] state, String kind) {
            this.in = new DataInputStream(new ByteArrayInputStream(state));
            this.kind = kind;
            this.length = state.length;
        }

        public int u8() {
            return io(in::readUnsignedByte);
        }

        public int u16() {
            return io(in::readUnsignedShort);
        }

        public int u32() {
            return io(in::readInt);
        }

        public long u64() {
            return io(in::readLong);
        }

        public boolean bool() {
            return io(in::readBoolean);
        }

        public String utf() {
            return io(in::readUTF);
        }

        /** What {@link Writer#bytes} wrote, which must be {@code expected} bytes long. */
        public byte[] bytes(int expected, String what) {
            int n = u32();
            if (n != expected) {
                throw new MigrationException("the '" + kind + "' state holds " + n + " bytes of " + what + ", and this "
                        + "part has " + expected + ": start the destination with the source's devices and options");
            }
            byte[] b = new byte[n];
            io(() -> {
                in.readFully(b);
                return null;
            });
            return b;
        }

        /** Every byte read: a state with more is refused. */
        public void end() {
            int left = io(in::available);
            if (left != 0) {
                throw new MigrationException("the '" + kind + "' state has " + left + " bytes after its last field (of "
                        + length + "): it is corrupt or from another build; take the snapshot again");
            }
        }

        private interface Io<T> {
            T get() throws IOException;
        }

        private <T> T io(Io<T> read) {
            try {
                return read.get();
            } catch (EOFException e) {
                throw new MigrationException("the '" + kind + "' state ends within its fields (" + length + " bytes): "
                        + "it is cut short or from another build; restore the whole snapshot", e);
            } catch (IOException e) {
                // A ByteArrayInputStream fails only at its end, or on a string that is not modified UTF-8.
                throw new MigrationException("the '" + kind + "' state is corrupt (" + e + "); take the snapshot again", e);
            }
        }
    }
}
