package io.jvfio.vfio.user.client;

import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.migration.MigrationData;
import io.jvfio.vfio.migration.MigrationState;
import io.jvfio.vfio.user.client.ClientSession.Reply;
import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vfio.user.protocol.VfioUserPayloads.MigData;
import io.netty.buffer.ByteBuf;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;

/**
 * A vfio-user migration data transfer session ({@link ClientMigration#setState}): VFIO_USER_MIG_DATA_READ
 * in pieces of the negotiated max_data_xfer_size until a reply carries less than was asked for (the
 * spec's end of the data there is now), or VFIO_USER_MIG_DATA_WRITE of the stream in such pieces.
 * The session lives on the connection; closing it here only stops this object from being used.
 */
public final class ClientMigrationData implements MigrationData {

    private final ClientSession session;
    private final String name;
    private final int chunk;
    private volatile MigrationState state;
    private volatile boolean closed;

    ClientMigrationData(ClientSession session, MigrationState state, int chunk) {
        this.session = session;
        this.name = session.name();
        this.state = state;
        this.chunk = chunk;
    }

    @Override
    public MigrationState session() {
        return state;
    }

    /** The device moved within the saving states (PRE_COPY to STOP_COPY), and this session with it. */
    void continueAs(MigrationState to) {
        state = to;
    }

    @Override
    public synchronized long readTo(WritableByteChannel out) {
        requireOpen();
        if (state == MigrationState.RESUMING) {
            throw new VfioException(name + ": cannot read a RESUMING session: it takes a stream, and gives none");
        }
        long total = 0;
        while (true) {
            Reply r = session.request(VfioUserCommand.MIG_DATA_READ, MigData.SIZEOF, null, 0, b -> {
                b.writeIntLE(MigData.SIZEOF + chunk); // argsz: the largest reply
                b.writeIntLE(chunk);
            });
            int n;
            try {
                ByteBuf p = r.payload();
                if (p.readableBytes() < MigData.SIZEOF) {
                    throw session.protocol("its VFIO_USER_MIG_DATA_READ reply has " + p.readableBytes() + " bytes, "
                            + "less than argsz and size");
                }
                long size = p.getUnsignedIntLE(MigData.SIZE);
                if (size > chunk || p.readableBytes() < MigData.SIZEOF + size) {
                    throw session.protocol("its VFIO_USER_MIG_DATA_READ reply says " + size + " bytes of the " + chunk
                            + " asked for, and carries " + (p.readableBytes() - MigData.SIZEOF));
                }
                n = (int) size;
                ByteBuffer data = p.nioBuffer(MigData.DATA, n);
                while (data.hasRemaining()) {
                    out.write(data);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(name + ": passing on its migration data failed after " + total + " bytes",
                        e);
            } finally {
                r.release();
            }
            total += n;
            if (n < chunk) {
                return total; // less than asked for: no more migration data now (the spec)
            }
        }
    }

    @Override
    public synchronized long writeFrom(ReadableByteChannel in) {
        requireOpen();
        return MigrationData.loadInPieces(name, state, in, ByteBuffer.allocate(chunk), (piece, loaded) -> {
            int n = piece.remaining();
            try {
                session.request(VfioUserCommand.MIG_DATA_WRITE, MigData.SIZEOF + n, null, 0, b -> {
                    b.writeIntLE(MigData.SIZEOF);
                    b.writeIntLE(n);
                    b.writeBytes(piece.duplicate());
                }).release();
            } catch (ClientSession.Refused e) {
                throw new VfioException.MigrationFailed(name + " refused the migration stream after " + loaded
                        + " bytes: " + e.getMessage() + " (the stream is another device's or another version's, or "
                        + "corrupt: the server's log says which); load a stream saved from a device of this type, "
                        + "then reset the device to leave RESUMING", MigrationState.RESUMING.name(), e);
            }
        });
    }

    private void requireOpen() {
        if (closed) {
            throw new VfioException(name + ": this " + state + " migration session has ended (the device left its "
                    + "state, or was reset): start a new one");
        }
    }

    @Override
    public void close() {
        closed = true;
    }

    @Override
    public String toString() {
        return name + "'s migration data (" + state + ")";
    }
}
