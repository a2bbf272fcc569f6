package io.jvfio.migration;

import io.jvfio.vmm.migration.MigrationException;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.channels.FileChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * One migration stream's transport, on blocking channels (each used by threads of its own, no polling):
 * a {@code unix:} socket, which also carries the destination's answer back (QEMU's return path, here one
 * acknowledgement: loaded, or refused with the reason), or a {@code file:}, which carries none.
 */
final class MigrationChannel implements AutoCloseable {

    private final MigrationUri uri;
    private final SocketChannel socket;
    private final FileChannel file;

    private MigrationChannel(MigrationUri uri, SocketChannel socket, FileChannel file) {
        this.uri = uri;
        this.socket = socket;
        this.file = file;
    }

    /** The source's end: connects to the destination's socket, or creates (truncates) the file. */
    static MigrationChannel connect(MigrationUri uri) {
        if (uri.transport() == MigrationUri.Transport.UNIX) {
            SocketChannel s = null;
            try {
                s = SocketChannel.open(StandardProtocolFamily.UNIX);
                s.connect(UnixDomainSocketAddress.of(uri.path()));
                return new MigrationChannel(uri, s, null);
            } catch (IOException e) {
                closeQuietly(s);
                // QEMU's wording (util/qemu-sockets.c, unix_connect_saddr)
                throw new MigrationException("Failed to connect to '" + uri.path() + "': " + reason(e)
                        + " (start the destination with -incoming " + uri + " first)", e);
            }
        }
        try {
            return new MigrationChannel(uri, null, FileChannel.open(uri.path(), StandardOpenOption.CREATE,
                    StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING));
        } catch (IOException e) {
            // QEMU's wording (io/channel-file.c, qio_channel_file_new_path)
            throw new MigrationException("Unable to open " + uri.path() + ": " + reason(e), e);
        }
    }

    /** The destination's end, bound (a socket) or opened (a file) now; {@link Listener#accept} waits for the source. */
    static Listener listen(MigrationUri uri) {
        if (uri.transport() == MigrationUri.Transport.FILE) {
            try {
                return new Listener(uri, null, FileChannel.open(uri.path(), StandardOpenOption.READ));
            } catch (IOException e) {
                throw new MigrationException("Unable to open " + uri.path() + ": " + reason(e), e);
            }
        }
        Path path = uri.path();
        try {
            if (Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).isOther()) {
                Files.delete(path); // a socket left by an earlier run, as QEMU unlinks it before bind
            }
        } catch (IOException e) {
            // none there: bind says what is wrong, if anything
        }
        ServerSocketChannel server = null;
        try {
            server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(path), 1);
            return new Listener(uri, server, null);
        } catch (IOException e) {
            closeQuietly(server);
            // QEMU's wording (util/qemu-sockets.c, unix_listen_saddr)
            throw new MigrationException("Failed to bind socket to " + path + ": " + reason(e)
                    + " (give a path in a directory this user may write to)", e);
        }
    }

    /** The destination's listening end. */
    static final class Listener implements AutoCloseable {
        private final MigrationUri uri;
        private final ServerSocketChannel server;
        private final FileChannel file;

        private Listener(MigrationUri uri, ServerSocketChannel server, FileChannel file) {
            this.uri = uri;
            this.server = server;
            this.file = file;
        }

        /** Waits for the source (a socket) and stops listening; a file is there already. */
        MigrationChannel accept() throws IOException {
            if (file != null) {
                return new MigrationChannel(uri, null, file);
            }
            try {
                return new MigrationChannel(uri, server.accept(), null);
            } finally {
                close();
            }
        }

        @Override
        public void close() {
            if (server != null) {
                closeQuietly(server);
                try {
                    Files.deleteIfExists(uri.path());
                } catch (IOException e) {
                    // left behind: the next listener replaces it
                }
            }
        }

        /** Stops a waiting {@link #accept}, and closes a file not yet read. */
        void abort() {
            close();
            if (file != null) {
                closeQuietly(file);
            }
        }
    }

    MigrationUri uri() {
        return uri;
    }

    /** Whether the destination answers on this channel (a socket). */
    boolean hasReturnPath() {
        return socket != null;
    }

    OutputStream output() {
        return new BufferedOutputStream(outputOf(socket != null ? socket : file), 256 << 10);
    }

    InputStream input() {
        return new BufferedInputStream(inputOf(socket != null ? socket : file), 256 << 10);
    }

    /** The answer's side of a socket, read by its own thread on the source while another writes the stream. */
    DataInputStream answers() {
        return new DataInputStream(inputOf(socket));
    }

    /*
     * Streams straight over the channel. Not Channels.newInputStream/newOutputStream: on a socket channel
     * both take its one blocking lock, so a read waiting for the destination's answer would hold up every
     * write of the stream; the channel itself reads and writes at once on two threads.
     */
    private static OutputStream outputOf(WritableByteChannel ch) {
        return new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                ByteBuffer buf = ByteBuffer.wrap(b, off, len);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
            }
        };
    }

    private static InputStream inputOf(ReadableByteChannel ch) {
        return new InputStream() {
            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (len == 0) {
                    return 0;
                }
                return ch.read(ByteBuffer.wrap(b, off, len));
            }
        };
    }

    /** The file's bytes on its device before the migration counts as done (a file: nothing answers). */
    void force() throws IOException {
        if (file != null) {
            file.force(true);
        }
    }

    /** The destination's answer: null when it loaded the stream, else its reason. */
    String readAnswer(DataInputStream in) throws IOException {
        int b = in.read();
        if (b == StreamFormat.ACK) {
            return null;
        }
        if (b == StreamFormat.NACK) {
            return in.readUTF();
        }
        if (b < 0) {
            throw new IOException("the destination closed the connection without acknowledging the stream");
        }
        throw new IOException("the destination answered 0x" + Integer.toHexString(b) + ", which is no jvfio answer");
    }

    /** The destination's answer to the source (a socket only; a file has nobody to answer). */
    void answer(String refusal) throws IOException {
        if (socket == null) {
            return;
        }
        DataOutputStream out = new DataOutputStream(outputOf(socket));
        if (refusal == null) {
            out.write(StreamFormat.ACK);
        } else {
            out.write(StreamFormat.NACK);
            out.writeUTF(refusal.length() > 16000 ? refusal.substring(0, 16000) : refusal);
        }
        out.flush();
    }

    /** What is transferred on it, as QEMU words a write's failure (io/channel-socket.c, io/channel-file.c). */
    String writeFailure(IOException e) {
        return (socket != null ? "Unable to write to socket: " : "Unable to write to file: ") + reason(e);
    }

    @Override
    public void close() {
        closeQuietly(socket);
        closeQuietly(file);
    }

    static String reason(IOException e) {
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }

    private static void closeQuietly(AutoCloseable c) {
        if (c != null) {
            try {
                c.close();
            } catch (Exception e) {
                // closing after a failure: the failure is what is reported
            }
        }
    }
}
