package io.jvfio.vfio.emulated.host;

import io.jvfio.vfio.emulated.EmulatedDevice;
import io.jvfio.vmm.linux.EventFd;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A served device's doorbells ({@link EmulatedDevice.Doorbell}), each with an eventfd of its own that
 * one thread watches: a signal is the doorbell's write, done on the device as a trapped write of
 * that register would be ({@link EmulatedDevice#write} with the doorbell's data). A vfio-user session
 * keeps one for its client, who gets the eventfds with VFIO_USER_DEVICE_GET_REGION_IO_FDS; the
 * watcher's thread starts with the first doorbell and ends at {@link #close}.
 */
public final class DeviceDoorbells implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(DeviceDoorbells.class);

    private final String name;
    private final EmulatedDevice device;
    private final List<EmulatedDevice.Doorbell> doorbells;
    private final EventFd[] eventfds;
    private final long[] tokens;
    /** The data of each doorbell's write, little-endian, reused by the watcher's one thread. */
    private final ByteBuf[] data;
    private final EventFdWatcher watcher;
    private final AtomicLong rung = new AtomicLong();
    private boolean closed;
    /** How many of the eventfds are watched (all, unless the constructor failed part way). */
    private int watched;

    /** The doorbells of {@code device}, their eventfds created and watched. */
    public DeviceDoorbells(String name, EmulatedDevice device) {
        this.name = name;
        this.device = device;
        this.doorbells = List.copyOf(device.doorbells());
        this.eventfds = new EventFd[doorbells.size()];
        this.tokens = new long[doorbells.size()];
        this.data = new ByteBuf[doorbells.size()];
        this.watcher = new EventFdWatcher(name + " doorbells");
        try {
            for (int i = 0; i < eventfds.length; i++) {
                EmulatedDevice.Doorbell d = doorbells.get(i);
                data[i] = Unpooled.buffer(8, 8);
                data[i].writeLongLE(d.data());
                eventfds[i] = new EventFd(name + " doorbell " + d.region() + "+0x" + Long.toHexString(d.offset()));
                int at = i;
                tokens[i] = watcher.watch(eventfds[i], () -> ring(at));
                watched++;
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** The doorbells, in the order of {@link #eventfd}. */
    public List<EmulatedDevice.Doorbell> doorbells() {
        return doorbells;
    }

    /** Doorbell {@code i}'s eventfd, owned here. */
    public EventFd eventfd(int i) {
        return eventfds[i];
    }

    /** Signals taken (coalesced kicks count once): each one write on the device. */
    public long rung() {
        return rung.get();
    }

    /** On the watcher's thread: the eventfd was signalled (the guest's write, through KVM). */
    private void ring(int i) {
        synchronized (this) {
            if (closed || eventfds[i].read() == 0) {
                return;
            }
        }
        rung.incrementAndGet(); // before the write: whoever sees its effect sees it counted
        EmulatedDevice.Doorbell d = doorbells.get(i);
        try {
            device.write(d.region(), d.offset(), data[i].readerIndex(0), d.size());
        } catch (RuntimeException e) {
            LOG.warn("{}: the device failed its doorbell write at region {} +0x{}: {}", name, d.region(),
                    Long.toHexString(d.offset()), e.toString());
        }
    }

    /** Every eventfd unwatched and closed (a client that kept a copy signals nothing any more). */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (int i = 0; i < eventfds.length; i++) {
            if (i < watched) {
                watcher.unwatch(eventfds[i], tokens[i]);
            }
            if (eventfds[i] != null) {
                eventfds[i].close();
            }
        }
    }
}
