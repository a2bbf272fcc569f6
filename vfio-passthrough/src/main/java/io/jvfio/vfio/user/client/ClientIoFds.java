package io.jvfio.vfio.user.client;

import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.VfioIoEventFd;
import io.jvfio.vfio.VfioRegion;
import io.jvfio.vfio.user.client.ClientSession.Reply;
import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vfio.user.protocol.VfioUserPayloads.RegionIoFds;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.range.UnsignedRange;
import io.netty.buffer.ByteBuf;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_BAR5_REGION_INDEX;

/**
 * The doorbells the server offers (VFIO_USER_DEVICE_GET_REGION_IO_FDS): asked once per present BAR
 * after the region info, their eventfds kept until {@link #close}. The spec gives no flag that says
 * which regions have io fds, so each BAR is asked; a server without the command (an error reply: QEMU
 * 11 has no vfio-user server, libvfio-user's answers, earlier jvfio servers said EOPNOTSUPP) offers
 * none, and its BARs are trapped as before. QEMU 11's vfio-user client never sends the command: it
 * is this client's, against the spec and libvfio-user's server.
 */
final class ClientIoFds {

    private static final Logger LOG = LoggerFactory.getLogger(VfioUserClient.class);

    /** A first argsz with room for 16 sub-regions; a larger reply says what it needs and is asked again. */
    private static final int FIRST_ARGSZ = RegionIoFds.SIZEOF + 16 * RegionIoFds.SUB_SIZEOF;
    /** No device has more doorbells in one BAR than this; a server that says so is broken. */
    private static final int MAX_SUB_REGIONS = 1024;

    private final ClientSession session;
    private final String name;
    private final List<List<VfioIoEventFd>> byRegion = new ArrayList<>();
    private final List<EventFd> owned = new ArrayList<>();

    ClientIoFds(ClientSession session) {
        this.session = session;
        this.name = session.name();
    }

    /** Asks for every present BAR's io fds. */
    void read(List<VfioRegion> regions) {
        for (VfioRegion r : regions) {
            byRegion.add(r.index() <= VFIO_PCI_BAR5_REGION_INDEX && r.present() ? ask(r) : List.of());
        }
    }

    List<VfioIoEventFd> of(int region) {
        return region >= 0 && region < byRegion.size() ? byRegion.get(region) : List.of();
    }

    private List<VfioIoEventFd> ask(VfioRegion region) {
        int argsz = FIRST_ARGSZ;
        for (int attempt = 0; attempt < 3; attempt++) {
            int asked = argsz;
            Reply r;
            try {
                r = session.request(VfioUserCommand.DEVICE_GET_REGION_IO_FDS, RegionIoFds.SIZEOF, null, 0, b -> {
                    b.writeIntLE(asked);
                    b.writeIntLE(0);
                    b.writeIntLE(region.index());
                    b.writeIntLE(0);
                });
            } catch (VfioException e) {
                LOG.debug("{}: {} has no io fds: {}", name, region.name(), e.getMessage());
                return List.of();
            }
            int[] fds = r.takeFds();
            try {
                ByteBuf p = r.payload();
                if (p.readableBytes() < RegionIoFds.SIZEOF) {
                    throw session.protocol("its " + region.name() + " io fds reply is " + p.readableBytes()
                            + " bytes, less than 16");
                }
                long needed = p.getUnsignedIntLE(RegionIoFds.ARGSZ);
                long count = p.getUnsignedIntLE(RegionIoFds.COUNT);
                if (count > MAX_SUB_REGIONS || needed < RegionIoFds.SIZEOF + count * RegionIoFds.SUB_SIZEOF) {
                    throw session.protocol("its " + region.name() + " io fds reply has " + count + " sub-regions in "
                            + "argsz " + needed);
                }
                if (needed > asked) {
                    argsz = (int) needed; // did not fit: ask again with what it needs
                    continue;
                }
                if (p.readableBytes() < needed) {
                    throw session.protocol("its " + region.name() + " io fds reply is " + p.readableBytes()
                            + " bytes, argsz says " + needed);
                }
                List<VfioIoEventFd> got = new ArrayList<>();
                EventFd[] adopted = new EventFd[fds.length];
                for (int i = 0; i < count; i++) {
                    int at = RegionIoFds.SUB_REGIONS + i * RegionIoFds.SUB_SIZEOF;
                    long offset = p.getLongLE(at + RegionIoFds.SUB_OFFSET);
                    long size = p.getLongLE(at + RegionIoFds.SUB_SIZE);
                    int fdIndex = p.getIntLE(at + RegionIoFds.SUB_FD_INDEX);
                    int type = p.getIntLE(at + RegionIoFds.SUB_TYPE);
                    int flags = p.getIntLE(at + RegionIoFds.SUB_FLAGS);
                    long data = p.getLongLE(at + RegionIoFds.SUB_DATAMATCH);
                    // The spec: "it is the client's responsibility to verify the requested values".
                    if (type != RegionIoFds.TYPE_IOEVENTFD) {
                        LOG.warn("{}: {} sub-region {} is of io fd type {}, not an ioeventfd: left trapped", name,
                                region.name(), i, type);
                        continue;
                    }
                    if (fdIndex < 0 || fdIndex >= fds.length) {
                        throw session.protocol(region.name() + " sub-region " + i + " names fd " + fdIndex + " of "
                                + fds.length + " sent");
                    }
                    if (size != 0 && size != 1 && size != 2 && size != 4 && size != 8
                            || !UnsignedRange.fits(offset, Math.max(size, 1), region.size())
                            || (flags & ~(RegionIoFds.FLAG_DATAMATCH | RegionIoFds.FLAG_PIO)) != 0
                            || (flags & RegionIoFds.FLAG_DATAMATCH) != 0 && size == 0) {
                        throw session.protocol(region.name() + " sub-region " + i + " (offset 0x" + Long.toHexString(offset)
                                + ", size " + size + ", flags 0x" + Integer.toHexString(flags) + ") is not an ioeventfd "
                                + "within the region's 0x" + Long.toHexString(region.size()) + " bytes");
                    }
                    if (adopted[fdIndex] == null) {
                        adopted[fdIndex] = new EventFd(OwnedFd.adopt(fds[fdIndex], name + " " + region.name()
                                + " doorbell"));
                        fds[fdIndex] = -1;
                        owned.add(adopted[fdIndex]);
                    }
                    got.add(new VfioIoEventFd(region.index(), offset, (int) size,
                            (flags & RegionIoFds.FLAG_DATAMATCH) != 0, data, (flags & RegionIoFds.FLAG_PIO) != 0,
                            adopted[fdIndex]));
                }
                return List.copyOf(got);
            } finally {
                for (int fd : fds) {
                    if (fd >= 0) {
                        LibC.close(fd); // fds no sub-region named, or of a reply asked again
                    }
                }
                r.release();
            }
        }
        throw session.protocol(region.name() + " io fds keep growing");
    }

    /** Every eventfd closed (the device model has removed its ioeventfds by then). */
    void close() {
        for (EventFd e : owned) {
            e.close();
        }
        owned.clear();
    }
}
