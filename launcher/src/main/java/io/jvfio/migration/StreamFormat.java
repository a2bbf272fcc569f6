package io.jvfio.migration;

import java.nio.charset.StandardCharsets;

/**
 * The migration stream's layout, big-endian as QEMU's: the {@link StreamHeader} (magic, format version,
 * the machine's shape), then records, each a tag byte: a RAM page ({@code PAGE}: gpa, 4 KiB), a page of
 * zeros sent as its address only ({@code ZERO}: QEMU's "duplicate" page, which QEMU's RAM_SAVE_FLAG_ZERO
 * sends with the byte it repeats; jvfio's is always zero), the end of a round of RAM ({@code ROUND}), a
 * part's state ({@code PART}: its index in the header, its length, its bytes), and {@code END}. On a
 * {@code unix:} stream the destination answers on the same socket once it has loaded all of it: an
 * acknowledgement ({@code ACK}, or {@code NACK} with the reason).
 */
final class StreamFormat {

    private StreamFormat() {
    }

    /** The stream's first 8 bytes. */
    static final byte[] MAGIC = "JVFIOMIG".getBytes(StandardCharsets.US_ASCII);
    /** The format this jvfio writes and reads; a stream of another is refused. */
    static final int VERSION = 1;
    /** Where the format version lies: the 4 bytes after the magic. */
    static final int VERSION_OFFSET = 8;

    static final int PAGE_SHIFT = 12;
    /** The unit of RAM in the stream: x86's 4 KiB page, as KVM's dirty log counts. */
    static final int PAGE_SIZE = 1 << PAGE_SHIFT;

    static final int TAG_PAGE = 1;
    static final int TAG_ZERO = 2;
    static final int TAG_ROUND = 3;
    static final int TAG_PART = 4;
    static final int TAG_END = 5;

    /** The destination's answer on a socket: loaded, or refused (followed by the reason). */
    static final int ACK = 0x41;
    static final int NACK = 0x4e;

    /** A part's state may be at most this long: a stream claiming more is corrupt. */
    static final int MAX_PART_STATE = 256 << 20;
}
