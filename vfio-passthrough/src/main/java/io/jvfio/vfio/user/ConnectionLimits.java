package io.jvfio.vfio.user;

/**
 * The bounds one vfio-user connection holds its peer to, so that a peer that stops reading, or
 * stops half-way through sending, cannot take memory without end or hold a one-client-at-a-time
 * server (spec, "Connection Initiation") from the clients waiting behind it. The names are the
 * {@code jvfio --serve} properties that set them.
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
 */
public record ConnectionLimits(long negotiationTimeoutMillis, long messageTimeoutMillis, long maxQueuedOutput,
                               long writeStallTimeoutMillis) {

    /** The longest timeout accepted, an hour, as for the client's x-msg-timeout. */
    public static final long MAX_TIMEOUT_MILLIS = 3_600_000;
    /** The largest output bound accepted: more would only let a non-reading peer pin more memory. */
    public static final long MAX_QUEUED_OUTPUT = 1L << 30;

    /**
     * 10 s for VERSION and for a message: a local peer sends either in microseconds, so 10 s is
     * generous for a loaded host and still short for the client waiting in the backlog. 4 MiB of
     * output: room for the largest reply (a 1 MiB REGION_READ) three times over, while a
     * well-behaved peer (QEMU waits for each reply) rarely has more than one message queued.
     */
    public static final ConnectionLimits DEFAULTS = new ConnectionLimits(10_000, 10_000, 4L << 20, 10_000);

    public ConnectionLimits {
        timeout("x-negotiation-timeout", negotiationTimeoutMillis);
        timeout("x-message-timeout", messageTimeoutMillis);
        timeout("x-write-stall-timeout", writeStallTimeoutMillis);
        if (maxQueuedOutput < VfioUserConnection.MAX_MESSAGE || maxQueuedOutput > MAX_QUEUED_OUTPUT) {
            throw new IllegalArgumentException("x-max-queued-output=" + maxQueuedOutput + " is out of range: give "
                    + VfioUserConnection.MAX_MESSAGE + " (one largest message, " + (VfioUserConnection.MAX_MESSAGE >> 10)
                    + "K) to " + MAX_QUEUED_OUTPUT + " (1G) bytes");
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
        return new ConnectionLimits(millis, messageTimeoutMillis, maxQueuedOutput, writeStallTimeoutMillis);
    }

    public ConnectionLimits withMessageTimeout(long millis) {
        return new ConnectionLimits(negotiationTimeoutMillis, millis, maxQueuedOutput, writeStallTimeoutMillis);
    }

    public ConnectionLimits withMaxQueuedOutput(long bytes) {
        return new ConnectionLimits(negotiationTimeoutMillis, messageTimeoutMillis, bytes, writeStallTimeoutMillis);
    }

    public ConnectionLimits withWriteStallTimeout(long millis) {
        return new ConnectionLimits(negotiationTimeoutMillis, messageTimeoutMillis, maxQueuedOutput, millis);
    }
}
