package io.jvfio.vfio.passthrough;

import io.jvfio.vmm.migration.MigrationException;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * A passed-through device's migrated state ({@link PassthroughDevice#snapshot}) and its versioned form:
 * a magic and a version, the {@link DeviceIdentity} it was saved from, then the VMM's side (the
 * emulated config registers the guest programmed, MSI, MSI-X with its table and PBA, INTx) and the
 * device's own side (its VFIO migration data, opaque). As QEMU's vfio stream carries the config
 * state (VFIO_MIG_FLAG_DEV_CONFIG_STATE) beside the device's data.
 *
 * @param emulatedMask which config bits the model emulates (the layout the guest sees: capabilities
 *                     shown and hidden, the ROM BAR); the destination's must be the same
 * @param bars         the BAR registers (BAR0-5, then the ROM BAR) as the guest programmed them
 * @param command      the command register as the guest reads it
 * @param msi          null without MSI
 * @param msix         null without MSI-X
 * @param device       the device's VFIO migration data (STOP_COPY)
 */
record PassthroughState(DeviceIdentity identity, byte[] emulatedMask, int[] bars, int command, int interruptLine,
                        int intxGsi, boolean intxEnabled, MsiInterrupts.State msi, MsixInterrupts.State msix,
                        byte[] device) {

    /** "JVPT": a jvfio passthrough device's state. */
    static final int MAGIC = 0x4A56_5054;
    /** The format written, and the only one read. */
    static final int VERSION = 1;
    /** BAR0-5 and the ROM BAR. */
    static final int BAR_REGISTERS = 7;

    /** This state with the device's migration data. */
    PassthroughState withDevice(byte[] data) {
        return new PassthroughState(identity, emulatedMask, bars, command, interruptLine, intxGsi, intxEnabled, msi, msix,
                data);
    }

    byte[] encode() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(device.length + emulatedMask.length + 512);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeInt(MAGIC);
            out.writeInt(VERSION);
            identity.write(out);
            out.writeInt(emulatedMask.length);
            out.write(emulatedMask);
            for (int b : bars) {
                out.writeInt(b);
            }
            out.writeShort(command);
            out.writeByte(interruptLine);
            out.writeInt(intxGsi);
            out.writeBoolean(intxEnabled);
            out.writeBoolean(msi != null);
            if (msi != null) {
                out.writeShort(msi.flags());
                out.writeInt(msi.addressLo());
                out.writeInt(msi.addressHi());
                out.writeShort(msi.data());
                out.writeInt(msi.mask());
                out.writeInt(msi.pending());
            }
            out.writeBoolean(msix != null);
            if (msix != null) {
                out.writeShort(msix.control());
                out.writeInt(msix.table().length);
                out.write(msix.table());
                out.writeInt(msix.pending().length);
                for (long w : msix.pending()) {
                    out.writeLong(w);
                }
            }
            out.writeInt(device.length);
            out.write(device);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a byte array does not fail
        }
        return bytes.toByteArray();
    }

    /**
     * The state in {@code bytes}, or a refusal that says what they are instead: not a passthrough
     * device's state, another version of it, or cut short.
     */
    static PassthroughState decode(String name, byte[] bytes) {
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes));
        try {
            int magic = in.readInt();
            if (magic != MAGIC) {
                throw new MigrationException(String.format("%s: the stream's state is not a passthrough device's "
                        + "(it begins 0x%08x, not the magic 0x%08x \"JVPT\"): it was saved from another kind of device",
                        name, magic, MAGIC));
            }
            int version = in.readInt();
            if (version != VERSION) {
                throw new MigrationException(name + ": the stream's passthrough device state is version " + version
                        + ", this jvfio reads version " + VERSION + ": migrate between jvfio versions that share it");
            }
            DeviceIdentity identity = DeviceIdentity.read(in);
            byte[] mask = bytes(in, in.readInt(), "config mask");
            int[] bars = new int[BAR_REGISTERS];
            for (int i = 0; i < bars.length; i++) {
                bars[i] = in.readInt();
            }
            int command = in.readUnsignedShort();
            int line = in.readUnsignedByte();
            int gsi = in.readInt();
            boolean intx = in.readBoolean();
            MsiInterrupts.State msi = null;
            if (in.readBoolean()) {
                msi = new MsiInterrupts.State(in.readUnsignedShort(), in.readInt(), in.readInt(), in.readUnsignedShort(),
                        in.readInt(), in.readInt());
            }
            MsixInterrupts.State msix = null;
            if (in.readBoolean()) {
                int control = in.readUnsignedShort();
                byte[] table = bytes(in, in.readInt(), "MSI-X table");
                int words = in.readInt();
                if (words < 0 || words > 32) { // 2048 vectors at most: 32 words of PBA
                    throw new IOException("an MSI-X PBA of " + words + " words");
                }
                long[] pending = new long[words];
                for (int i = 0; i < words; i++) {
                    pending[i] = in.readLong();
                }
                msix = new MsixInterrupts.State(control, table, pending);
            }
            byte[] device = bytes(in, in.readInt(), "device data");
            if (in.available() > 0) {
                throw new IOException(in.available() + " bytes after its end");
            }
            return new PassthroughState(identity, mask, bars, command, line, gsi, intx, msi, msix, device);
        } catch (EOFException e) {
            throw new MigrationException(name + ": the stream's passthrough device state ends early (" + bytes.length
                    + " bytes): it was cut short", e);
        } catch (IOException e) {
            throw new MigrationException(name + ": the stream's passthrough device state is malformed: "
                    + e.getMessage(), e);
        }
    }

    private static byte[] bytes(DataInputStream in, int length, String what) throws IOException {
        if (length < 0 || length > in.available()) {
            throw new EOFException(what + " of " + length + " bytes");
        }
        byte[] b = new byte[length];
        in.readFully(b);
        return b;
    }
}
