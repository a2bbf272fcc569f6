package io.jvfio.vfio.user.transport;

import io.netty.channel.IoEventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;

import java.util.concurrent.TimeUnit;

/**
 * The Netty epoll event loop a vfio-user endpoint's connections live on: one thread that waits on
 * the sockets, reads, frames and answers messages.
 */
public final class VfioUserEventLoop implements AutoCloseable {

    private final MultiThreadIoEventLoopGroup group;
    private final IoEventLoop loop;

    public VfioUserEventLoop(String name) {
        if (!Epoll.isAvailable()) {
            throw new IllegalStateException("Netty's native epoll transport is not available: "
                    + Epoll.unavailabilityCause());
        }
        group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory(name, true), EpollIoHandler.newFactory());
        loop = group.next();
    }

    public IoEventLoop loop() {
        return loop;
    }

    @Override
    public void close() {
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
