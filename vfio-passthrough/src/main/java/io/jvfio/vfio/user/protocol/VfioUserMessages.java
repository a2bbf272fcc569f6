package io.jvfio.vfio.user.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/** Builds vfio-user messages in pooled buffers: a header, then the payload the caller writes. */
public final class VfioUserMessages {

    private VfioUserMessages() {
    }

    /** A command with room for {@code payload} bytes; the caller writes them and sets nothing else. */
    public static ByteBuf command(ByteBufAllocator alloc, int id, VfioUserCommand command, int payload, boolean noReply) {
        ByteBuf b = alloc.directBuffer(VfioUserHeader.SIZE + payload);
        VfioUserHeader.write(b, id, command.number(), VfioUserHeader.SIZE + payload,
                VfioUserHeader.TYPE_COMMAND | (noReply ? VfioUserHeader.NO_REPLY : 0), 0);
        return b;
    }

    /** A command written into {@code b} (cleared first): for a slot's reusable request buffer. */
    public static ByteBuf command(ByteBuf b, int id, VfioUserCommand command, int payload) {
        return command(b, id, command, payload, false);
    }

    /** As {@link #command(ByteBuf, int, VfioUserCommand, int)}, with the No_reply flag if {@code noReply}. */
    public static ByteBuf command(ByteBuf b, int id, VfioUserCommand command, int payload, boolean noReply) {
        b.clear();
        VfioUserHeader.write(b, id, command.number(), VfioUserHeader.SIZE + payload,
                VfioUserHeader.TYPE_COMMAND | (noReply ? VfioUserHeader.NO_REPLY : 0), 0);
        return b;
    }

    /** A reply to message {@code id} with {@code payload} bytes to follow. */
    public static ByteBuf reply(ByteBufAllocator alloc, int id, int command, int payload) {
        ByteBuf b = alloc.directBuffer(VfioUserHeader.SIZE + payload);
        VfioUserHeader.write(b, id, command, VfioUserHeader.SIZE + payload, VfioUserHeader.TYPE_REPLY, 0);
        return b;
    }

    /** An error reply: the header alone, with the Error flag and errno (spec: "must only include the reply header"). */
    public static ByteBuf error(ByteBufAllocator alloc, int id, int command, int errno) {
        ByteBuf b = alloc.directBuffer(VfioUserHeader.SIZE);
        VfioUserHeader.write(b, id, command, VfioUserHeader.SIZE, VfioUserHeader.TYPE_REPLY | VfioUserHeader.ERROR_FLAG,
                errno);
        return b;
    }
}
