package io.jvfio.vfio.user.hostile;

import io.jvfio.vfio.user.Le;
import io.jvfio.vfio.user.RawPeer;
import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vfio.user.protocol.VfioUserHeader;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.linux.jna.LibC;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Random;

import static io.jvfio.vmm.linux.jna.LinuxConstants.EFD_CLOEXEC;
import static io.jvfio.vmm.linux.jna.LinuxConstants.F_SEAL_GROW;
import static io.jvfio.vmm.linux.jna.LinuxConstants.F_SEAL_SHRINK;
import static io.jvfio.vmm.linux.jna.LinuxConstants.MFD_ALLOW_SEALING;
import static io.jvfio.vmm.linux.jna.LinuxConstants.O_RDONLY;
import static io.jvfio.vmm.linux.jna.LinuxConstants.POLLHUP;

/**
 * The attack classes of issue 13, each one hostile client against a server of the edu device
 * (the item each comes from is in its comment). An attack connects (waiting in the backlog while
 * the server serves others), does its harm, and leaves or is dropped; it never asserts what the
 * server answers (the Hostile*Test suites do that per item): the soak judges the server by whether
 * it keeps serving and what it holds.
 */
public enum Attack {

    /** Item 1: a 1 MiB read of BAR2 whose reply is never read, then a disconnect. */
    UNREAD_REPLY(true) {
        @Override
        Outcome attack(RawPeer peer, Random rnd, long holdMillis) {
            peer.send(RawPeer.command(2, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(2).u32(1 << 20).build()));
            peer.readableWithin(5000);
            return Outcome.LEFT;
        }
    },

    /** Item 2: a blocking eventfd at its maximum count as an MSI-X trigger, then the vector fired. */
    BLOCKING_TRIGGER(true) {
        @Override
        Outcome attack(RawPeer peer, Random rnd, long holdMillis) {
            try (OwnedFd trigger = OwnedFd.adopt(LibC.eventfd(0, EFD_CLOEXEC), "blocking trigger")) {
                LibC.eventfd_write(trigger.get(), 0xfffffffffffffffeL);
                peer.call(2, VfioUserCommand.DEVICE_SET_IRQS,
                        Le.of().u32(20).u32(DATA_EVENTFD_TRIGGER).u32(MSIX).u32(0).u32(1).build(), trigger.get());
                peer.call(3, VfioUserCommand.DEVICE_SET_IRQS,
                        Le.of().u32(20).u32(DATA_NONE_TRIGGER).u32(MSIX).u32(0).u32(1).build());
                // edu raises MSI-X vector 0 itself too: its raise register (0x60).
                peer.call(4, VfioUserCommand.REGION_WRITE, Le.of().u64(0x60).u32(0).u32(4).u32(1).build());
                CleanClient.read32(peer, 5, CleanClient.EDU_ID);
            }
            return Outcome.LEFT;
        }
    },

    /** Item 3: SET_IRQS in its disable form (DATA_NONE|TRIGGER, start 0, count 0) carrying fds, 300 times. */
    DISABLE_FORM_WITH_FDS(true) {
        @Override
        Outcome attack(RawPeer peer, Random rnd, long holdMillis) {
            try (OwnedFd fd = OwnedFd.adopt(LibC.eventfd(0, EFD_CLOEXEC), "eventfd sent with disable")) {
                for (int i = 0; i < 300; i++) {
                    peer.call(2 + i, VfioUserCommand.DEVICE_SET_IRQS,
                            Le.of().u32(20).u32(DATA_NONE_TRIGGER).u32(MSIX).u32(0).u32(0).build(), fd.get(), fd.get())
                            .closeFds();
                }
            }
            return Outcome.LEFT;
        }
    },

    /** Item 7: connected, and nothing sent at all. */
    SILENCE(false) {
        @Override
        Outcome attack(RawPeer peer, Random rnd, long holdMillis) {
            return holdUntilDropped(peer, holdMillis);
        }
    },

    /** Item 7: half a header, then nothing. */
    HALF_HEADER(false) {
        @Override
        Outcome attack(RawPeer peer, Random rnd, long holdMillis) {
            ByteBuffer version = RawPeer.command(1, VfioUserCommand.VERSION, Le.version(0, 1, "{}"));
            peer.send(version.limit(8));
            return holdUntilDropped(peer, holdMillis);
        }
    },

    /** Item 7: after VERSION, a header announcing 4 KiB of payload and 100 bytes of it. */
    PARTIAL_MESSAGE(true) {
        @Override
        Outcome attack(RawPeer peer, Random rnd, long holdMillis) {
            byte[] part = new byte[100];
            rnd.nextBytes(part);
            peer.send(RawPeer.message(2, VfioUserCommand.REGION_WRITE.number(), VfioUserHeader.SIZE + 4096,
                    VfioUserHeader.TYPE_COMMAND, 0, part));
            return holdUntilDropped(peer, holdMillis);
        }
    },

    /**
     * Item 6: 1,500 requests for 1 MiB reads (32 bytes each), no reply read. A server that bounds
     * its output stops reading them (the sends stall) and drops the client when its writes stall.
     */
    OUTPUT_FLOOD(true) {
        @Override
        Outcome attack(RawPeer peer, Random rnd, long holdMillis) {
            for (int i = 0; i < 1500; i++) {
                try {
                    if (!peer.send(RawPeer.command(2 + i, VfioUserCommand.REGION_READ,
                            Le.of().u64(0).u32(2).u32(1 << 20).build()))) {
                        return Outcome.SERVER_CLOSED;
                    }
                } catch (AssertionError stalled) {
                    break; // RawPeer's 5 s without progress: the server has stopped reading (back-pressure)
                }
            }
            return holdUntilDropped(peer, holdMillis);
        }
    },

    /** Item 9: REGION_READ/WRITE at offsets whose sum with the count crosses 2^63 or wraps past 2^64. */
    OFFSET_EDGES(true) {
        @Override
        Outcome attack(RawPeer peer, Random rnd, long holdMillis) {
            long[] offsets = {0x7ffffffffffffffcL, 0x7fffffffffffffffL, 0x8000000000000000L, 0xfffffffffffffffcL,
                    0xffffffffffffffffL, 0xfffffffffffff000L};
            int id = 2;
            for (int region : new int[] {0, 1, 2, 7}) {
                for (long offset : offsets) {
                    peer.call(id++, VfioUserCommand.REGION_READ, Le.of().u64(offset).u32(region).u32(4).build());
                    peer.call(id++, VfioUserCommand.REGION_WRITE,
                            Le.of().u64(offset).u32(region).u32(4).u32(0xdeadbeefL).build());
                }
            }
            CleanClient.read32(peer, id, CleanClient.EDU_ID);
            return Outcome.LEFT;
        }
    },

    /** Item 9: DMA_MAP and DMA_UNMAP of windows that wrap past 2^64 or cross 2^63. */
    DMA_WRAP(true) {
        @Override
        Outcome attack(RawPeer peer, Random rnd, long holdMillis) {
            try (OwnedFd memfd = Syscalls.memfdCreate("dma-wrap", 0)) {
                Syscalls.ftruncate(memfd, 2 << 20);
                long[][] windows = {{0xfffffffffffff000L, 0x2000}, {0x2000, 0xfffffffffffff000L},
                        {0x7ffffffffffff000L, 0x2000}, {0xfffffffffffff000L, 0x1000}, {0, -1L}};
                int id = 2;
                for (long[] w : windows) {
                    peer.call(id++, VfioUserCommand.DMA_MAP, dmaMap(w[0], w[1]), memfd.get());
                }
                for (long[] w : windows) {
                    peer.call(id++, VfioUserCommand.DMA_UNMAP, dmaUnmap(w[0], w[1]));
                }
            }
            return Outcome.LEFT;
        }
    },

    /** Item 9: triggers that cannot be signalled (/dev/null read-only, and a memfd), then interrupts raised. */
    UNWRITABLE_TRIGGER(true) {
        @Override
        Outcome attack(RawPeer peer, Random rnd, long holdMillis) {
            try (OwnedFd readOnly = Syscalls.open("/dev/null", O_RDONLY);
                    OwnedFd memfd = Syscalls.memfdCreate("not-an-eventfd", 0)) {
                peer.call(2, VfioUserCommand.DEVICE_SET_IRQS,
                        Le.of().u32(20).u32(DATA_EVENTFD_TRIGGER).u32(MSIX).u32(0).u32(2).build(), readOnly.get(),
                        memfd.get());
                peer.call(3, VfioUserCommand.DEVICE_SET_IRQS,
                        Le.of().u32(20).u32(DATA_NONE_TRIGGER).u32(MSIX).u32(0).u32(2).build());
                peer.call(4, VfioUserCommand.REGION_WRITE, Le.of().u64(0x60).u32(0).u32(4).u32(1).build());
                CleanClient.read32(peer, 5, CleanClient.EDU_ID);
            }
            return Outcome.LEFT;
        }
    },

    /** Item 9: a 1 TiB memfd mapped and unmapped 130 times. */
    BIG_MAP_CYCLES(true) {
        @Override
        Outcome attack(RawPeer peer, Random rnd, long holdMillis) {
            long tib = 1L << 40;
            try (OwnedFd memfd = Syscalls.memfdCreate("one-tebibyte", MFD_ALLOW_SEALING)) {
                Syscalls.ftruncate(memfd, tib);
                Syscalls.addSeals(memfd, F_SEAL_SHRINK | F_SEAL_GROW);
                int id = 2;
                for (int i = 0; i < 130; i++) {
                    if (peer.call(id++, VfioUserCommand.DMA_MAP, dmaMap(tib, tib), memfd.get()).isError()) {
                        break; // out of address space: the server refuses, and must still serve
                    }
                    peer.call(id++, VfioUserCommand.DMA_UNMAP, dmaUnmap(tib, tib));
                }
                CleanClient.read32(peer, id, CleanClient.EDU_ID);
            }
            return Outcome.LEFT;
        }
    },

    /** Item 9: factorial(0xffffffff) started, DEVICE_RESET, gone: the next client must not wait for it. */
    RESET_DURING_FACTORIAL(true) {
        @Override
        Outcome attack(RawPeer peer, Random rnd, long holdMillis) {
            peer.call(2, VfioUserCommand.REGION_WRITE,
                    Le.of().u64(CleanClient.EDU_FACTORIAL).u32(0).u32(4).u32(0xffffffffL).build());
            peer.call(3, VfioUserCommand.DEVICE_RESET, new byte[0]);
            return Outcome.LEFT;
        }
    },

    /** Random bytes: a random header (command, size, flags) and payload, or bytes with no header at all. */
    GARBAGE(false) {
        @Override
        Outcome attack(RawPeer peer, Random rnd, long holdMillis) {
            if (rnd.nextBoolean()) {
                Connect.negotiate(peer, 1, holdMillis);
            }
            for (int i = 0, n = 1 + rnd.nextInt(8); i < n; i++) {
                byte[] payload = new byte[rnd.nextInt(512)];
                rnd.nextBytes(payload);
                ByteBuffer m = rnd.nextInt(3) == 0 ? ByteBuffer.wrap(payload)
                        : RawPeer.message(rnd.nextInt(0x10000), rnd.nextInt(24), rnd.nextBoolean()
                                ? VfioUserHeader.SIZE + payload.length : rnd.nextInt(), rnd.nextInt(4), rnd.nextInt(),
                                payload);
                try {
                    if (!peer.send(m)) {
                        return Outcome.SERVER_CLOSED;
                    }
                } catch (AssertionError stalled) {
                    break;
                }
            }
            return peer.closedWithin(2000) ? Outcome.SERVER_CLOSED : Outcome.LEFT;
        }
    };

    static final int MSIX = 2;
    static final int DATA_NONE_TRIGGER = 0x21;
    static final int DATA_EVENTFD_TRIGGER = 0x24;
    private static final int DMA_READ_WRITE = 3;

    private final boolean negotiates;

    Attack(boolean negotiates) {
        this.negotiates = negotiates;
    }

    /** The attack on a connection the server has accepted (after VERSION where {@link #negotiates}). */
    abstract Outcome attack(RawPeer peer, Random rnd, long holdMillis);

    /**
     * Runs one attack against {@code socket}: connects, waiting up to {@code connectMillis} to be
     * accepted; holds a connection the attack leaves idle for up to {@code holdMillis}.
     */
    public Outcome run(Path socket, Random rnd, long connectMillis, long holdMillis) {
        RawPeer peer = Connect.within(socket, connectMillis);
        if (peer == null) {
            return Outcome.NOT_ACCEPTED;
        }
        try (peer) {
            if (negotiates) {
                Connect.negotiate(peer, 1, connectMillis);
            }
            return attack(peer, rnd, holdMillis);
        } catch (RawPeer.ClosedException e) {
            return Outcome.SERVER_CLOSED;
        }
    }

    /** Waits, reading nothing, until the server hangs up (SERVER_CLOSED) or {@code millis} pass. */
    static Outcome holdUntilDropped(RawPeer peer, long millis) {
        return (Syscalls.poll(peer.socket(), 0, (int) millis) & POLLHUP) != 0 ? Outcome.SERVER_CLOSED
                : Outcome.HELD_TO_THE_END;
    }

    static byte[] dmaMap(long address, long size) {
        return Le.of().u32(32).u32(DMA_READ_WRITE).u64(0).u64(address).u64(size).build();
    }

    static byte[] dmaUnmap(long address, long size) {
        return Le.of().u32(24).u32(0).u64(address).u64(size).build();
    }
}
