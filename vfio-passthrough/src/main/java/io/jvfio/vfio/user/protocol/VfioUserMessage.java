package io.jvfio.vfio.user.protocol;

import io.netty.buffer.ByteBuf;

/**
 * A received message, as the connection hands it to its listener: a view of the bytes in the
 * connection's buffer plus the fds that came with it. One instance per connection is reused for
 * every message, so a listener reads what it needs during the call and keeps nothing.
 */
public final class VfioUserMessage {

    private static final int[] NO_FDS = new int[0];

    private ByteBuf buf;
    private int start;
    private int size;
    private int[] fds = NO_FDS;
    private boolean dataReceived;

    public void set(ByteBuf buf, int start, int size, int[] fds) {
        this.buf = buf;
        this.start = start;
        this.size = size;
        this.fds = fds == null ? NO_FDS : fds;
        this.dataReceived = false;
    }

    /**
     * As {@link #set}, for a message whose payload after its first {@code prefix} bytes the
     * connection received straight into memory its listener named (see {@link #dataReceived}): only
     * the header and those bytes are in {@code buf}.
     */
    public void setReceived(ByteBuf buf, int start, int size, int[] fds) {
        set(buf, start, size, fds);
        this.dataReceived = true;
    }

    /**
     * True when the payload after its access header (16 bytes: REGION_READ/WRITE's offset, region
     * and count, DMA_READ/WRITE's address and count) is not in this message: the connection received
     * it straight into the memory the listener named for it
     * ({@code VfioUserConnection.Listener#receiveTarget}). Only the header and those 16 bytes may
     * then be read.
     */
    public boolean dataReceived() {
        return dataReceived;
    }

    public int id() {
        return buf.getUnsignedShortLE(start + VfioUserHeader.MSG_ID);
    }

    public int commandNumber() {
        return buf.getUnsignedShortLE(start + VfioUserHeader.COMMAND);
    }

    /** The command, or null for a number the protocol does not define. */
    public VfioUserCommand command() {
        return VfioUserCommand.of(commandNumber());
    }

    public int flags() {
        return buf.getIntLE(start + VfioUserHeader.FLAGS);
    }

    public boolean isReply() {
        return (flags() & VfioUserHeader.TYPE_MASK) == VfioUserHeader.TYPE_REPLY;
    }

    public boolean isCommand() {
        return (flags() & VfioUserHeader.TYPE_MASK) == VfioUserHeader.TYPE_COMMAND;
    }

    public boolean noReply() {
        return (flags() & VfioUserHeader.NO_REPLY) != 0;
    }

    public boolean isError() {
        return (flags() & VfioUserHeader.ERROR_FLAG) != 0;
    }

    public int error() {
        return buf.getIntLE(start + VfioUserHeader.ERROR);
    }

    /** The whole message's size, header included. */
    public int size() {
        return size;
    }

    public int payloadSize() {
        return size - VfioUserHeader.SIZE;
    }

    /** The fds that came with this message; the listener owns them (adopt or close each). */
    public int[] fds() {
        return fds;
    }

    public int payloadU8(int offset) {
        return buf.getUnsignedByte(start + VfioUserHeader.SIZE + offset);
    }

    public int payloadU16(int offset) {
        return buf.getUnsignedShortLE(start + VfioUserHeader.SIZE + offset);
    }

    public int payloadInt(int offset) {
        return buf.getIntLE(start + VfioUserHeader.SIZE + offset);
    }

    public long payloadU32(int offset) {
        return buf.getUnsignedIntLE(start + VfioUserHeader.SIZE + offset);
    }

    public long payloadLong(int offset) {
        return buf.getLongLE(start + VfioUserHeader.SIZE + offset);
    }

    /** Copies {@code length} payload bytes from {@code offset} into {@code dst} at its writer index. */
    public void payloadBytes(int offset, ByteBuf dst, int length) {
        dst.writeBytes(buf, start + VfioUserHeader.SIZE + offset, length);
    }

    /** Copies {@code length} payload bytes from {@code offset} into native memory at {@code address}. */
    public void payloadBytes(int offset, byte[] dst, int dstOffset, int length) {
        buf.getBytes(start + VfioUserHeader.SIZE + offset, dst, dstOffset, length);
    }

    /**
     * Copies {@code length} payload bytes from {@code offset} into native memory at {@code address}
     * (a region's memory, a caller's buffer): one memcpy from the connection's buffer, no view
     * allocated, for bulk data.
     */
    public void payloadTo(int offset, long address, int length) {
        int at = start + VfioUserHeader.SIZE + offset;
        if (buf.hasMemoryAddress()) {
            io.jvfio.vmm.linux.jna.LibC.memcpy(address, buf.memoryAddress() + at, length);
        } else {
            buf.getBytes(at, new com.sun.jna.Pointer(address).getByteBuffer(0, length));
        }
    }

    /** A read-only view of payload bytes (allocates the view; for bulk data). */
    public ByteBuf payloadSlice(int offset, int length) {
        return buf.slice(start + VfioUserHeader.SIZE + offset, length).asReadOnly();
    }

    @Override
    public String toString() {
        VfioUserCommand c = command();
        return (c != null ? c.specName() : "command " + commandNumber()) + (isReply() ? " reply" : "") + " (id " + id()
                + ", " + size + " bytes" + (fds.length > 0 ? ", " + fds.length + " fds" : "") + ")";
    }
}
