package io.jvfio.vfio.user;

import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.UnixSocket;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * A vfio-user server written from the spec's tables alone, for testing the client against a peer
 * that is not this project's server: it answers the client's set-up and region accesses with
 * hand-built replies for a small PCI device (BAR0 4 KiB, config space 256 bytes, one MSI, four
 * MSI-X vectors), and lets a test send the client anything else.
 */
final class ScriptedServer implements AutoCloseable {

    static final int BAR0_SIZE = 4096;

    private final OwnedFd listener;
    RawPeer peer;

    ScriptedServer(Path socket) {
        listener = UnixSocket.listen(socket, 4);
    }

    /**
     * Runs {@code connect} (a client connecting, on another thread) while answering its set-up, and
     * returns what it returns.
     */
    <T> T accept(Supplier<T> connect) throws Exception {
        CompletableFuture<T> client = CompletableFuture.supplyAsync(connect);
        if (peer != null) {
            peer.close();
        }
        peer = RawPeer.accept(listener, 5000);
        while (!client.isDone()) {
            RawPeer.Frame f;
            try {
                f = peer.receive(20);
            } catch (RawPeer.ClosedException e) {
                break;
            }
            if (f != null) {
                answer(f);
            }
        }
        return client.get(5, TimeUnit.SECONDS);
    }

    /**
     * Answers before the script, for a test that shapes some replies itself (the way another server
     * implementation would): returns true if it sent the reply. Runs on the answering thread.
     */
    volatile java.util.function.Predicate<RawPeer.Frame> override = f -> false;

    /** Answers one message from the client as the spec says a server does; false if it was not a command. */
    boolean answer(RawPeer.Frame f) {
        f.closeFds();
        if (f.isReply()) {
            return false;
        }
        if (override.test(f)) {
            return true;
        }
        VfioUserCommand c = VfioUserCommand.of(f.command());
        ByteBuffer p = f.payloadBuffer();
        byte[] reply = switch (c) {
            case VERSION -> Le.of().u16(0).u16(1)
                    .cstring("{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576}}").build();
            case DEVICE_GET_INFO -> Le.of().u32(16).u32(0x3).u32(9).u32(5).build();
            case DEVICE_GET_REGION_INFO -> {
                int index = p.getInt(8);
                long size = index == 0 ? BAR0_SIZE : index == 7 ? 256 : 0;
                yield Le.of().u32(32).u32(size > 0 ? 0x3 : 0).u32(index).u32(0).u64(size).u64(0).build();
            }
            case DEVICE_GET_IRQ_INFO -> {
                int index = p.getInt(8);
                yield Le.of().u32(16).u32(index < 3 ? 0x1 : 0).u32(index).u32(index == 2 ? 4 : index < 2 ? 1 : 0)
                        .build();
            }
            case DMA_MAP, DEVICE_SET_IRQS, DEVICE_RESET -> new byte[0];
            case DMA_UNMAP -> java.util.Arrays.copyOf(f.payload(), 24);
            case REGION_READ -> {
                long offset = p.getLong(0);
                int count = p.getInt(12);
                Le l = Le.of().u64(offset).u32(p.getInt(8)).u32(count);
                for (int i = 0; i < count; i++) {
                    l.u8(pattern(offset + i));
                }
                yield l.build();
            }
            case REGION_WRITE -> java.util.Arrays.copyOf(f.payload(), 16);
            default -> null;
        };
        if (reply == null) {
            peer.send(RawPeer.message(f.id(), f.command(), 16, 0x21, io.jvfio.vmm.linux.Errno.EINVAL.number(),
                    new byte[0]));
        } else {
            peer.send(RawPeer.message(f.id(), f.command(), 16 + reply.length, 0x1, 0, reply));
        }
        return true;
    }

    /** What this device's regions hold: byte {@code i} is a function of its offset. */
    static int pattern(long offset) {
        return (int) (offset * 31 + 7) & 0xFF;
    }

    /** A little-endian value of {@code size} bytes of the pattern at {@code offset}. */
    static long patternValue(long offset, int size) {
        long v = 0;
        for (int i = 0; i < size; i++) {
            v |= (long) pattern(offset + i) << (8 * i);
        }
        return v;
    }

    private volatile boolean answering;
    private Thread answerer;

    /** Keeps answering on another thread until {@link #stopAnswering} (for a client's close, which sends DMA_UNMAP). */
    void answerInBackground() {
        answering = true;
        answerer = new Thread(() -> {
            try {
                while (answering) {
                    RawPeer.Frame f = peer.receive(20);
                    if (f != null) {
                        answer(f);
                    }
                }
            } catch (RawPeer.ClosedException e) {
                // the client went away: done
            }
        }, "scripted-server");
        answerer.setDaemon(true);
        answerer.start();
    }

    void stopAnswering() throws InterruptedException {
        answering = false;
        if (answerer != null) {
            answerer.join(5000);
        }
    }

    @Override
    public void close() {
        if (peer != null) {
            peer.close();
        }
        listener.close();
    }
}
