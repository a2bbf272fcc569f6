package io.jvfio.irq.ioapic;

import io.jvfio.irq.MsiMessage;

/**
 * One 64-bit IOAPIC redirection table entry (Intel 82093AA datasheet, 3.2.4), decoded in place: the
 * entry is kept as a {@code long} so that delivering an interrupt allocates nothing. Bits 7:0 vector,
 * 10:8 delivery mode, 11 destination mode (logical), 12 delivery status (read-only), 13 polarity
 * (active low), 14 remote IRR (read-only), 15 trigger mode (level), 16 mask, 63:56 destination.
 */
public final class RedirectionEntry {

    public static final long POLARITY_LOW = 1L << 13;
    public static final long REMOTE_IRR = 1L << 14;
    public static final long LEVEL = 1L << 15;
    public static final long MASKED = 1L << 16;
    /** The bits the guest writes; delivery status and remote IRR are the IOAPIC's. */
    public static final long WRITABLE = 0xFF00_0000_0001_FFFFL & ~(1L << 12) & ~REMOTE_IRR;
    /** At reset every entry is masked (82093AA: "after reset, all the interrupts are masked"). */
    public static final long RESET = MASKED;

    private RedirectionEntry() {
    }

    public static int vector(long entry) {
        return (int) entry & 0xFF;
    }

    public static int deliveryMode(long entry) {
        return (int) (entry >>> 8) & 7;
    }

    public static boolean logical(long entry) {
        return (entry & (1L << 11)) != 0;
    }

    public static boolean levelTriggered(long entry) {
        return (entry & LEVEL) != 0;
    }

    public static boolean masked(long entry) {
        return (entry & MASKED) != 0;
    }

    public static boolean remoteIrr(long entry) {
        return (entry & REMOTE_IRR) != 0;
    }

    public static int destination(long entry) {
        return (int) (entry >>> 56) & 0xFF;
    }

    /** The interrupt message the entry sends (as the IOAPIC does on the system bus), its address part. */
    public static long messageAddress(long entry) {
        return MsiMessage.ADDRESS_BASE | (long) destination(entry) << 12 | (logical(entry) ? 1L << 2 : 0);
    }

    /** The message's data: the vector, the delivery mode, an assert, and the trigger mode. */
    public static int messageData(long entry) {
        return vector(entry) | deliveryMode(entry) << 8 | 1 << 14 | (levelTriggered(entry) ? 1 << 15 : 0);
    }

    /** The entry in words, for diagnostics. */
    public static String describe(long entry) {
        return String.format("vector 0x%02x, %s, %s, %s %d%s", vector(entry), levelTriggered(entry) ? "level" : "edge",
                (entry & POLARITY_LOW) != 0 ? "active low" : "active high", logical(entry) ? "logical" : "APIC",
                destination(entry), masked(entry) ? ", masked" : "");
    }
}
