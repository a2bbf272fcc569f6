package io.jvfio.vfio.emulated;

import io.jvfio.vfio.VfioException;
import io.netty.buffer.ByteBuf;

import java.nio.charset.StandardCharsets;

/**
 * The header that opens a served device's migration stream ({@link MigratableDevice}): a magic
 * number, the device type that wrote the state and the version of that type's state format. A
 * device loads only a stream with its own type and version, and a refusal says which of the two
 * differs. Layout (little-endian): u32 magic "JVFS", u16 length of the type, the type in UTF-8, u32
 * version. VFIO leaves the stream opaque (linux/vfio.h): this layout is jvfio's own.
 */
public record DeviceStateHeader(String type, int version) {

    /** "JVFS" as the stream's first four bytes. */
    public static final int MAGIC = 0x5346564a;
    /** No device type is longer: a longer length field is a corrupt header. */
    public static final int MAX_TYPE_LENGTH = 64;

    public DeviceStateHeader {
        if (type.isEmpty() || type.getBytes(StandardCharsets.UTF_8).length > MAX_TYPE_LENGTH) {
            throw new IllegalArgumentException("a device state type is 1 to " + MAX_TYPE_LENGTH + " bytes, not '" + type
                    + "'");
        }
    }

    /** The header's length in bytes. */
    public int size() {
        return 4 + 2 + type.getBytes(StandardCharsets.UTF_8).length + 4;
    }

    public void write(ByteBuf out) {
        byte[] t = type.getBytes(StandardCharsets.UTF_8);
        out.writeIntLE(MAGIC);
        out.writeShortLE(t.length);
        out.writeBytes(t);
        out.writeIntLE(version);
    }

    /**
     * Reads the header at {@code in}'s reader index, advancing past it; null if {@code in} does not
     * hold all of it yet.
     *
     * @throws VfioException if the bytes are not a jvfio device state header at all
     */
    public static DeviceStateHeader read(ByteBuf in) {
        if (in.readableBytes() < 6) {
            return null;
        }
        int at = in.readerIndex();
        int magic = in.getIntLE(at);
        if (magic != MAGIC) {
            throw new VfioException("the migration stream does not begin with a jvfio device state header (magic 0x"
                    + Integer.toHexString(magic) + ", expected 0x" + Integer.toHexString(MAGIC) + " \"JVFS\"): load a "
                    + "stream saved from a jvfio served device, from its first byte");
        }
        int length = in.getUnsignedShortLE(at + 4);
        if (length == 0 || length > MAX_TYPE_LENGTH) {
            throw new VfioException("the migration stream's header names a device type of " + length + " bytes (1 to "
                    + MAX_TYPE_LENGTH + "): the header is corrupt; save the device's state again");
        }
        if (in.readableBytes() < 6 + length + 4) {
            return null;
        }
        String type = in.toString(at + 6, length, StandardCharsets.UTF_8);
        int version = in.getIntLE(at + 6 + length);
        in.skipBytes(6 + length + 4);
        return new DeviceStateHeader(type, version);
    }

    /**
     * Refuses a stream whose header is not {@code expected}, the header this device writes, naming
     * what differs (the device type, or the version of its state format) and what to do instead.
     */
    public void requireLoadableAs(DeviceStateHeader expected) {
        if (!type.equals(expected.type)) {
            throw new VfioException("the migration stream holds the state of a '" + type + "' device (version " + version
                    + "), and this device is '" + expected.type + "': load a stream saved from a '" + expected.type
                    + "' device");
        }
        if (version != expected.version) {
            throw new VfioException("the migration stream holds version " + version + " of the '" + type + "' state "
                    + "format, and this device loads version " + expected.version + " only: migrate between jvfio "
                    + "builds whose '" + type + "' state version is the same");
        }
    }

    @Override
    public String toString() {
        return "'" + type + "' state version " + version;
    }
}
