package io.jvfio.vfio.emulated;

import io.jvfio.vfio.VfioException;
import io.netty.buffer.ByteBuf;

/**
 * The migration stream of a {@link MigratableDevice}, as the vfio-user server frames it: the
 * device's {@link DeviceStateHeader}, the initial section, the final section, and an end mark.
 * A section is a tag byte (1 initial, 2 final), its length (u32, little-endian) and the device's
 * bytes; the end mark is a 0 byte, so a stream cut short is told from a whole one.
 */
public final class DeviceStateStream {

    private static final int END = 0;
    private static final int INITIAL = 1;
    private static final int FINAL = 2;

    private DeviceStateStream() {
    }

    /** The stream's beginning: the header and the initial section (PRE_COPY, or the start of STOP_COPY). */
    public static void saveInitial(MigratableDevice device, ByteBuf out) {
        device.stateHeader().write(out);
        section(out, INITIAL, device::savePrecopy);
    }

    /** The stream's end: the final section, taken with the device stopped, and the end mark. */
    public static void saveFinal(MigratableDevice device, ByteBuf out) {
        section(out, FINAL, device::saveStopCopy);
        out.writeByte(END);
    }

    private static void section(ByteBuf out, int tag, java.util.function.Consumer<ByteBuf> save) {
        out.writeByte(tag);
        int lengthAt = out.writerIndex();
        out.writeIntLE(0);
        save.accept(out);
        out.setIntLE(lengthAt, out.writerIndex() - lengthAt - 4);
    }

    /**
     * Checks the header at the start of {@code prefix} (a stream's first bytes, as they arrive) without
     * consuming them: true once the header is there and is the device's own, false while it is still
     * incomplete.
     *
     * @throws VfioException if the header is not one this device loads, saying what differs
     */
    public static boolean headerAccepted(MigratableDevice device, ByteBuf prefix) {
        DeviceStateHeader h = DeviceStateHeader.read(prefix.duplicate());
        if (h == null) {
            return false;
        }
        h.requireLoadableAs(device.stateHeader());
        return true;
    }

    /**
     * Loads a whole stream into {@code device} (stopped): header, then each section, then the end mark.
     *
     * @throws VfioException naming what is wrong: another device type or version, a stream cut short,
     *                       a section the device did not consume exactly, bytes after the end
     */
    public static void load(MigratableDevice device, ByteBuf in) {
        long total = in.readableBytes();
        DeviceStateHeader h = DeviceStateHeader.read(in);
        if (h == null) {
            throw new VfioException("the migration stream ends within its header (" + total + " bytes): load the "
                    + "whole stream the source's STOP_COPY gave");
        }
        h.requireLoadableAs(device.stateHeader());
        load(in, INITIAL, device::loadPrecopy, total);
        load(in, FINAL, device::loadStopCopy, total);
        if (!in.isReadable() || in.readUnsignedByte() != END) {
            throw new VfioException("the migration stream of " + total + " bytes has no end mark after its final section: "
                    + "it is cut short or corrupt; load the whole stream the source's STOP_COPY gave");
        }
        if (in.isReadable()) {
            throw new VfioException("the migration stream has " + in.readableBytes() + " bytes after its end mark: load "
                    + "one device's stream, exactly as it was read");
        }
    }

    private static void load(ByteBuf in, int tag, java.util.function.Consumer<ByteBuf> load, long total) {
        String name = tag == INITIAL ? "initial (PRE_COPY)" : "final (STOP_COPY)";
        if (in.readableBytes() < 5) {
            throw new VfioException("the migration stream of " + total + " bytes ends before its " + name + " section: "
                    + "load the whole stream the source's STOP_COPY gave");
        }
        int got = in.readUnsignedByte();
        if (got != tag) {
            throw new VfioException("the migration stream has a section tagged " + got + " where its " + name
                    + " section (tag " + tag + ") belongs: the stream is corrupt; save the device's state again");
        }
        long length = in.readUnsignedIntLE();
        if (length > in.readableBytes()) {
            throw new VfioException("the migration stream's " + name + " section is " + length + " bytes long and only "
                    + in.readableBytes() + " follow: the stream is cut short; load the whole stream");
        }
        ByteBuf section = in.readSlice((int) length);
        try {
            load.accept(section);
        } catch (IndexOutOfBoundsException e) {
            throw new VfioException("the migration stream's " + name + " section (" + length + " bytes) is shorter than "
                    + "the device's state: the stream is corrupt or from another build; save the device's state again", e);
        }
        if (section.isReadable()) {
            throw new VfioException("the device left " + section.readableBytes() + " of the " + length + " bytes of the "
                    + "stream's " + name + " section unread: the stream is corrupt or from another build; save the "
                    + "device's state again");
        }
    }
}
