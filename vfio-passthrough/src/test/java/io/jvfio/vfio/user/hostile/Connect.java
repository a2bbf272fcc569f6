package io.jvfio.vfio.user.hostile;

import io.jvfio.vfio.user.Le;
import io.jvfio.vfio.user.RawPeer;
import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vmm.linux.SyscallException;

import java.nio.file.Path;
import java.util.concurrent.locks.LockSupport;

/** Connecting to a server that serves one client at a time and may have a full backlog. */
final class Connect {

    private Connect() {
    }

    /**
     * A connection, retried while the backlog is full (connect on a non-blocking UNIX socket gives
     * EAGAIN then), for up to {@code millis}; null if the server took none in that time.
     */
    static RawPeer within(Path socket, long millis) {
        long deadline = System.nanoTime() + millis * 1_000_000L;
        while (true) {
            try {
                return RawPeer.connect(socket);
            } catch (SyscallException e) {
                if (System.nanoTime() > deadline) {
                    return null;
                }
                LockSupport.parkNanos(20_000_000L); // a retry interval, not a synchronization
            }
        }
    }

    /**
     * VERSION, waiting for the reply as long as {@code millis}: a client queued in the backlog
     * behind others is answered once the server accepts it.
     */
    static void negotiate(RawPeer peer, int id, long millis) {
        peer.send(RawPeer.command(id, VfioUserCommand.VERSION,
                Le.version(0, 1, "{\"capabilities\":{\"max_msg_fds\":16}}")));
        RawPeer.Frame r = peer.reply((int) millis);
        r.closeFds();
        if (!r.isReply() || r.isError() || r.id() != id) {
            throw new AssertionError("VERSION was not answered as such: " + r);
        }
    }
}
