/*
 * What the C baselines of the vfio-user benchmarks share (vfio_user_client.c, vfio_user_server.c):
 * the message header and command numbers of the spec (docs/devel/vfio-user.rst), and whole sends
 * and receives on a blocking stream socket. CBaseline copies it beside the source it compiles.
 */
#ifndef JVFIO_VFIO_USER_SOCKET_H
#define JVFIO_VFIO_USER_SOCKET_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define VFIO_USER_VERSION 1
#define VFIO_USER_DMA_MAP 2
#define VFIO_USER_DMA_UNMAP 3
#define VFIO_USER_DEVICE_GET_INFO 4
#define VFIO_USER_DEVICE_GET_REGION_INFO 5
#define VFIO_USER_DEVICE_GET_REGION_IO_FDS 6
#define VFIO_USER_DEVICE_GET_IRQ_INFO 7
#define VFIO_USER_DEVICE_SET_IRQS 8
#define VFIO_USER_REGION_READ 9
#define VFIO_USER_REGION_WRITE 10
#define VFIO_USER_DEVICE_RESET 13

#define VFIO_USER_F_TYPE_MASK 0xf
#define VFIO_USER_F_TYPE_COMMAND 0
#define VFIO_USER_F_TYPE_REPLY 1
#define VFIO_USER_F_NO_REPLY 0x10
#define VFIO_USER_F_ERROR 0x20

struct vfio_user_header {
    uint16_t msg_id;
    uint16_t command;
    uint32_t msg_size;
    uint32_t flags;
    uint32_t error_no;
};

/* All of iov through the socket; 0 or -errno. */
static int send_all(int fd, struct iovec *iov, int iovcnt) {
    while (iovcnt > 0) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = iovcnt};
        ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        while (iovcnt > 0 && (size_t) n >= iov->iov_len) {
            n -= iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *) iov->iov_base + n;
            iov->iov_len -= n;
        }
    }
    return 0;
}

/* Exactly len bytes; 0, -errno, or -EPIPE at end of stream. */
static int recv_all(int fd, void *buf, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = recv(fd, (char *) buf + done, len - done, MSG_WAITALL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            return -EPIPE;
        }
        done += n;
    }
    return 0;
}

#endif
