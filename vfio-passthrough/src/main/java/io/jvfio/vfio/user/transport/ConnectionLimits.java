package io.jvfio.vfio.user.transport;

import io.jvfio.vfio.user.server.VfioUserServer;

/**
 * The bounds one vfio-user connection holds its peer to, so that a peer that stops reading, or
 * stops half-way through sending, cannot take memory without end or hold a one-client-at-a-time
 * server (spec, "Connection Initiation") from the clients waiting behind it, and so that a client
 * cannot take its server's address space with the memory it gives for DMA. A server's bounds are
 * fixed when it starts ({@link VfioUserServer#start}). The names are the {@code jvfio --serve}
 * properties that set them.
 *
 * @param negotiationTimeoutMillis {@code x-negotiation-timeout}: a client must have completed
 *        VFIO_USER_VERSION this long after it connected (the server's; a client's own VERSION request
 *        waits under its x-msg-timeout instead)
 * @param messageTimeoutMillis {@code x-message-timeout}: once the first byte of a message has
 *        arrived, the whole message must arrive within this. A peer idle between messages is not
 *        timed: QEMU's client is silent for minutes while its guest does not touch the device
 * @param maxQueuedOutput {@code x-max-queued-output}: the bytes a connection holds for a peer that
 *        does not read them; at least one largest message ({@link VfioUserConnection#MAX_MESSAGE})
 * @param writeStallTimeoutMillis {@code x-write-stall-timeout}: queued output that goes nowhere for
 *        this long closes the connection
 * @param maxDmaMapped {@code x-max-dma-mapped}: the bytes of DMA windows a client may have mmap'd in
 *        the server at once; over it DMA_MAP with an fd gets ENOMEM. Only the server holds its peer
 *        to it (a client maps no DMA windows of its server's); a client's connection ignores it
 */
public record ConnectionLimits(long negotiationTimeoutMillis, long messageTimeoutMillis, long maxQueuedOutput,
                               long writeStallTimeoutMillis, long maxDmaMapped) {

    /** The longest timeout accepted, an hour, as for the client's x-msg-timeout. */
    public static final long MAX_TIMEOUT_MILLIS = 3_600_000;
    /** The largest output bound accepted: more would only let a non-reading peer pin more memory. */
    public static final long MAX_QUEUED_OUTPUT = 1L << 30;
    /** The smallest DMA bound accepted: one 4 KiB page, the smallest window the server maps (its pgsizes). */
    public static final long MIN_DMA_MAPPED = 4096;
    /**
     * The largest DMA bound accepted: 128 TiB (2^47), x86-64's user address space with 4-level page
     * tables, which is all a process can map; a larger bound would bind nothing.
     */
    public static final long MAX_DMA_MAPPED = 1L << 47;

    /**
     * 10 s for VERSION and for a message: a local peer sends either in microseconds, so 10 s is
     * generous for a loaded host and still short for the client waiting in the backlog. 4 MiB of
     * output: room for the largest reply (a 1 MiB REGION_READ) three times over, while a
     * well-behaved peer (QEMU waits for each reply) rarely has more than one message queued. 1 TiB
     * of mapped DMA windows: 1/128 of x86-64's user address space, and more than the guest RAM of any
     * VM this project runs (KVM's bound is 8 TiB; a larger guest's server raises it).
     */
    public static final ConnectionLimits DEFAULTS = new ConnectionLimits(10_000, 10_000, 4L << 20, 10_000, 1L << 40);

    public ConnectionLimits {
        timeout("x-negotiation-timeout", negotiationTimeoutMillis);
        timeout("x-message-timeout", messageTimeoutMillis);
        timeout("x-write-stall-timeout", writeStallTimeoutMillis);
        if (maxQueuedOutput < VfioUserConnection.MAX_MESSAGE || maxQueuedOutput > MAX_QUEUED_OUTPUT) {
            throw new IllegalArgumentException("x-max-queued-output=" + maxQueuedOutput + " is out of range: give "
                    + VfioUserConnection.MAX_MESSAGE + " (one largest message, " + (VfioUserConnection.MAX_MESSAGE >> 10)
                    + "K) to " + MAX_QUEUED_OUTPUT + " (1G) bytes");
        }
        // A size on the command line is a u64: print it unsigned (0xffffffffffffffff is not -1).
        if (maxDmaMapped < MIN_DMA_MAPPED || maxDmaMapped > MAX_DMA_MAPPED) {
            throw new IllegalArgumentException("x-max-dma-mapped=" + Long.toUnsignedString(maxDmaMapped)
                    + " is out of range: give " + MIN_DMA_MAPPED + " (one 4K page) to " + MAX_DMA_MAPPED
                    + " (128T, the x86-64 user address space) bytes");
        }
    }

    private static void timeout(String name, long millis) {
        if (millis < 1 || millis > MAX_TIMEOUT_MILLIS) {
            throw new IllegalArgumentException(name + "=" + millis + " is out of range: give 1 to " + MAX_TIMEOUT_MILLIS
                    + " milliseconds");
        }
    }

    /**
     * The high water mark: above it the connection reads no more messages, so that the reply to the
     * next one (at most {@link VfioUserConnection#MAX_MESSAGE}) still fits under the bound.
     */
    public long pauseReadingAbove() {
        return maxQueuedOutput - VfioUserConnection.MAX_MESSAGE;
    }

    /** The low water mark: reading resumes once the queued output is down to it. */
    public long resumeReadingAt() {
        return pauseReadingAbove() / 2;
    }

    public ConnectionLimits withNegotiationTimeout(long millis) {
        return new ConnectionLimits(millis, messageTimeoutMillis, maxQueuedOutput, writeStallTimeoutMillis,
                maxDmaMapped);
    }

    public ConnectionLimits withMessageTimeout(long millis) {
        return new ConnectionLimits(negotiationTimeoutMillis, millis, maxQueuedOutput, writeStallTimeoutMillis,
                maxDmaMapped);
    }

    public ConnectionLimits withMaxQueuedOutput(long bytes) {
        return new ConnectionLimits(negotiationTimeoutMillis, messageTimeoutMillis, bytes, writeStallTimeoutMillis,
                maxDmaMapped);
    }

    public ConnectionLimits withWriteStallTimeout(long millis) {
        return new ConnectionLimits(negotiationTimeoutMillis, messageTimeoutMillis, maxQueuedOutput, millis,
                maxDmaMapped);
    }

    public ConnectionLimits withMaxDmaMapped(long bytes) {
        return new ConnectionLimits(negotiationTimeoutMillis, messageTimeoutMillis, maxQueuedOutput,
                writeStallTimeoutMillis, bytes);
    }
}
