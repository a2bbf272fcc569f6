package io.jvfio.vfio.user.protocol;

import io.netty.buffer.ByteBuf;

/**
 * The 16-byte header of every vfio-user message (spec, "Header"): message ID, command, total size,
 * flags (type in bits 0-3, No_reply in bit 4, Error in bit 5) and errno. Host byte order, which is
 * little-endian on the machines jvfio runs on.
 */
public final class VfioUserHeader {

    public static final int MSG_ID = 0;
    public static final int COMMAND = 2;
    public static final int MSG_SIZE = 4;
    public static final int FLAGS = 8;
    public static final int ERROR = 12;
    public static final int SIZE = 16;

    public static final int TYPE_MASK = 0xF;
    public static final int TYPE_COMMAND = 0x0;
    public static final int TYPE_REPLY = 0x1;
    public static final int NO_REPLY = 1 << 4;
    public static final int ERROR_FLAG = 1 << 5;

    private VfioUserHeader() {
    }

    /** Writes a header at the buffer's writer index. */
    public static void write(ByteBuf b, int msgId, int command, int msgSize, int flags, int error) {
        b.writeShortLE(msgId);
        b.writeShortLE(command);
        b.writeIntLE(msgSize);
        b.writeIntLE(flags);
        b.writeIntLE(error);
    }

    public static int msgId(ByteBuf m) {
        return m.getUnsignedShortLE(m.readerIndex() + MSG_ID);
    }

    public static int command(ByteBuf m) {
        return m.getUnsignedShortLE(m.readerIndex() + COMMAND);
    }

    public static long msgSize(ByteBuf m) {
        return m.getUnsignedIntLE(m.readerIndex() + MSG_SIZE);
    }

    public static int flags(ByteBuf m) {
        return m.getIntLE(m.readerIndex() + FLAGS);
    }

    public static int error(ByteBuf m) {
        return m.getIntLE(m.readerIndex() + ERROR);
    }

    public static boolean isReply(ByteBuf m) {
        return (flags(m) & TYPE_MASK) == TYPE_REPLY;
    }
}
