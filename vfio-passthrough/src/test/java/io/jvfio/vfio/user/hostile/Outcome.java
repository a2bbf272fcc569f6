package io.jvfio.vfio.user.hostile;

/** How one attack ended, from the attacker's side. */
public enum Outcome {
    /** The server closed the connection (a timeout, a bound, or a protocol error it refuses). */
    SERVER_CLOSED,
    /** The attack ran its course and the attacker left; the server answered what it had to. */
    LEFT,
    /** The attacker held the server for its whole hold bound and left on its own: the server never dropped it. */
    HELD_TO_THE_END,
    /** The server was busy with other clients for longer than the connect bound: the attack never started. */
    NOT_ACCEPTED
}
