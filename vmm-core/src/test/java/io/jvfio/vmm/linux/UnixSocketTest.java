package io.jvfio.vmm.linux;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

import static io.jvfio.vmm.linux.LinuxConstants.POLLIN;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** UNIX sockets at a path, on the real kernel. */
class UnixSocketTest {

    @Test
    void listenConnectAcceptAndTalk(@TempDir Path dir) {
        Path path = dir.resolve("s.sock");
        try (OwnedFd listener = UnixSocket.listen(path, 4)) {
            assertNull(UnixSocket.accept(listener), "nobody has connected yet");
            try (OwnedFd client = UnixSocket.connect(path)) {
                assertEquals(POLLIN, Syscalls.poll(listener, POLLIN, 1000));
                try (OwnedFd server = UnixSocket.accept(listener)) {
                    ByteBuffer out = ByteBuffer.allocateDirect(4).putInt(0, 0x01020304);
                    assertEquals(4, new SocketMessage("c", 1).send(client.get(), out, new int[0], 0));
                    ByteBuffer in = ByteBuffer.allocateDirect(4);
                    assertEquals(POLLIN, Syscalls.poll(server, POLLIN, 1000));
                    assertEquals(4, new SocketMessage("s", 1).receive(server.get(), in));
                    assertEquals(0x01020304, in.getInt(0));
                }
            }
        }
    }

    @Test
    void aStaleSocketIsReplacedAndALiveOneIsNot(@TempDir Path dir) {
        Path path = dir.resolve("s.sock");
        UnixSocket.listen(path, 1).close(); // the file stays; nobody listens: stale
        assertTrue(Files.exists(path));
        try (OwnedFd again = UnixSocket.listen(path, 1)) {
            SyscallException e = assertThrows(SyscallException.class, () -> UnixSocket.listen(path, 1));
            assertEquals("bind on " + path + " (another server is listening on it): Address already in use (EADDRINUSE)",
                    e.getMessage());
        }
    }

    @Test
    void connectingToNothingNamesThePath(@TempDir Path dir) {
        Path path = dir.resolve("none.sock");
        SyscallException e = assertThrows(SyscallException.class, () -> UnixSocket.connect(path));
        assertEquals("connect on " + path + ": No such file or directory (ENOENT)", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> UnixSocket.connect(dir.resolve("x".repeat(120))));
    }
}
