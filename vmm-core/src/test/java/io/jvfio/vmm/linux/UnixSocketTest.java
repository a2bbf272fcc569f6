package io.jvfio.vmm.linux;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

import static io.jvfio.vmm.linux.jna.LinuxConstants.POLLIN;
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

    /** Issue 13 item 4: only a socket may be replaced; a FIFO or a device node at the path stays. */
    @Test
    void whatIsNotASocketIsRefusedAndKept(@TempDir Path dir) throws Exception {
        Path fifo = dir.resolve("fifo");
        run("mkfifo", fifo.toString());
        Path device = dir.resolve("null"); // a second /dev/null (char 1:3); the test runs as root
        run("mknod", device.toString(), "c", "1", "3");
        Path file = dir.resolve("file");
        Files.writeString(file, "keep me");
        Path link = dir.resolve("link");
        Files.createSymbolicLink(link, file);
        for (var c : java.util.List.of(java.util.Map.entry(fifo, "a FIFO"), java.util.Map.entry(device, "a character device"),
                java.util.Map.entry(file, "a regular file"), java.util.Map.entry(link, "a symbolic link"),
                java.util.Map.entry(dir, "a directory"))) {
            SyscallException e = assertThrows(SyscallException.class, () -> UnixSocket.listen(c.getKey(), 1));
            assertEquals("bind on " + c.getKey() + " (it exists and is " + c.getValue()
                    + ", not a socket: remove it or choose another path): File exists (EEXIST)", e.getMessage());
            assertTrue(Files.exists(c.getKey(), java.nio.file.LinkOption.NOFOLLOW_LINKS), c.getKey() + " is kept");
        }
        assertEquals("keep me", Files.readString(file));
    }

    /** Issue 13 item 5: a live server whose backlog is full answers EAGAIN; that is not "stale". */
    @Test
    void aBusyServerWithAFullBacklogIsNotTakenOver(@TempDir Path dir) {
        Path path = dir.resolve("busy.sock");
        java.util.List<OwnedFd> queued = new java.util.ArrayList<>();
        try (OwnedFd first = UnixSocket.listen(path, 0)) {
            SyscallException full = null;
            for (int i = 0; i < 64 && full == null; i++) { // fill the backlog, never accepting
                try {
                    queued.add(UnixSocket.connect(path));
                } catch (SyscallException e) {
                    full = e;
                }
            }
            assertEquals("connect on " + path + ": Resource temporarily unavailable (EAGAIN)",
                    full == null ? null : full.getMessage(), "the backlog filled up");
            SyscallException e = assertThrows(SyscallException.class, () -> UnixSocket.listen(path, 1));
            assertEquals("bind on " + path + " (a server is listening on it and its backlog is full): "
                    + "Address already in use (EADDRINUSE)", e.getMessage());
            assertEquals(queued.size(), drain(first), "the first server still owns the path and its clients");
        } finally {
            queued.forEach(OwnedFd::close);
        }
    }

    private static int drain(OwnedFd listener) {
        int n = 0;
        for (OwnedFd c; (c = UnixSocket.accept(listener)) != null; n++) {
            c.close();
        }
        return n;
    }

    private static void run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).inheritIO().start();
        assertEquals(0, p.waitFor(), String.join(" ", command));
    }

    @Test
    void connectingToNothingNamesThePath(@TempDir Path dir) {
        Path path = dir.resolve("none.sock");
        SyscallException e = assertThrows(SyscallException.class, () -> UnixSocket.connect(path));
        assertEquals("connect on " + path + ": No such file or directory (ENOENT)", e.getMessage());
        Path tooLong = Path.of("/tmp/" + "x".repeat(103));
        assertEquals("connect on (a UNIX socket path holds at most 107 bytes; " + tooLong + " has 108: use a shorter "
                + "path, e.g. under /run or /tmp): File name too long (ENAMETOOLONG)",
                assertThrows(SyscallException.class, () -> UnixSocket.connect(tooLong)).getMessage());
    }
}
