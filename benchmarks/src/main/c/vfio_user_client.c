/*
 * The C baselines of the vfio-user benchmarks (VfioUserBulkBenchmark), compiled with cc when the
 * benchmark first runs and called through JNA direct mapping, one operation per call, so that JMH
 * times them exactly as it times jvfio's Java client (same thread, same sample mode; the JNA call
 * itself costs tens of nanoseconds, see JnaCallBenchmark).
 *
 * A minimal vfio-user client written from the spec (docs/devel/vfio-user.rst, version 0.1): VERSION
 * negotiation, then REGION_READ / REGION_WRITE round trips on a blocking socket: a request in one
 * sendmsg (header and data as two iovecs), the reply's header read, then its data received straight
 * into the caller's buffer (MSG_WAITALL). And the floor under any such client: a raw UNIX-socket
 * ping-pong between this thread and an echo thread, for small messages and for 1 MiB.
 *
 * Every function returns a negative errno on failure.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "vfio_user_socket.h"

struct vfio_user_region_access {
    struct vfio_user_header hdr;
    uint64_t offset;
    uint32_t region;
    uint32_t count;
};

static uint16_t next_id;

/* Reads and drops len bytes. */
static int skip(int fd, size_t len) {
    char junk[256];
    while (len > 0) {
        size_t n = len < sizeof junk ? len : sizeof junk;
        int r = recv_all(fd, junk, n);
        if (r < 0) {
            return r;
        }
        len -= n;
    }
    return 0;
}

/* The reply's header; -errno of an error reply, -EPROTO if it is not the reply expected. */
static int reply_header(int fd, struct vfio_user_header *h, uint16_t id, uint16_t command) {
    int r = recv_all(fd, h, sizeof *h);
    if (r < 0) {
        return r;
    }
    if (h->msg_id != id || h->command != command || (h->flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_REPLY
        || h->msg_size < sizeof *h) {
        return -EPROTO;
    }
    if (h->flags & VFIO_USER_F_ERROR) {
        skip(fd, h->msg_size - sizeof *h);
        return -(int) h->error_no;
    }
    return 0;
}

/* Connects to the server at path and negotiates the version; the socket, or -errno. */
int jvfio_vu_connect(const char *path, int max_data_xfer) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
    if (connect(fd, (struct sockaddr *) &addr, sizeof addr) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    char caps[128];
    int len = snprintf(caps, sizeof caps, "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":%d}}",
                       max_data_xfer) + 1;
    struct {
        struct vfio_user_header hdr;
        uint16_t major;
        uint16_t minor;
    } __attribute__((packed)) v = {
        .hdr = {.msg_id = ++next_id, .command = VFIO_USER_VERSION, .msg_size = sizeof v + len},
        .major = 0, .minor = 1};
    struct iovec iov[2] = {{&v, sizeof v}, {caps, len}};
    struct vfio_user_header h;
    int r = send_all(fd, iov, 2);
    if (r == 0) {
        r = reply_header(fd, &h, v.hdr.msg_id, VFIO_USER_VERSION);
    }
    if (r == 0) {
        r = skip(fd, h.msg_size - sizeof h);
    }
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

/* One REGION_READ round trip: count bytes of region at offset into buf. count, or -errno. */
long jvfio_vu_region_read(int fd, int region, long offset, int count, void *buf) {
    struct vfio_user_region_access q = {
        .hdr = {.msg_id = ++next_id, .command = VFIO_USER_REGION_READ, .msg_size = sizeof q},
        .offset = offset, .region = region, .count = count};
    struct iovec iov = {&q, sizeof q};
    int r = send_all(fd, &iov, 1);
    struct vfio_user_header h;
    if (r == 0) {
        r = reply_header(fd, &h, q.hdr.msg_id, VFIO_USER_REGION_READ);
    }
    if (r < 0) {
        return r;
    }
    if (h.msg_size != sizeof q + count) {
        return -EPROTO;
    }
    struct vfio_user_region_access a;
    r = recv_all(fd, &a.offset, sizeof a - sizeof h);
    if (r == 0) {
        r = recv_all(fd, buf, count); /* straight into the caller's buffer */
    }
    return r < 0 ? r : count;
}

/* One REGION_WRITE round trip: count bytes from buf to region at offset. count, or -errno. */
long jvfio_vu_region_write(int fd, int region, long offset, int count, const void *buf) {
    struct vfio_user_region_access q = {
        .hdr = {.msg_id = ++next_id, .command = VFIO_USER_REGION_WRITE, .msg_size = sizeof q + count},
        .offset = offset, .region = region, .count = count};
    struct iovec iov[2] = {{&q, sizeof q}, {(void *) buf, count}};
    int r = send_all(fd, iov, 2);
    struct vfio_user_header h;
    if (r == 0) {
        r = reply_header(fd, &h, q.hdr.msg_id, VFIO_USER_REGION_WRITE);
    }
    if (r == 0) {
        r = skip(fd, h.msg_size - sizeof h);
    }
    return r < 0 ? r : count;
}

/* ---- the raw floor ---- */

struct echo {
    int fd;
    int request;
    int reply;
};

static void *echo_loop(void *arg) {
    struct echo e = *(struct echo *) arg;
    free(arg);
    char *in = malloc(e.request);
    char *out = calloc(1, e.reply);
    while (in != NULL && out != NULL && recv_all(e.fd, in, e.request) == 0) {
        struct iovec iov = {out, e.reply};
        if (send_all(e.fd, &iov, 1) < 0) {
            break;
        }
    }
    free(in);
    free(out);
    return NULL;
}

/* Starts a thread that answers every request bytes on fd with reply bytes, until the end of the stream. */
int jvfio_raw_echo_start(int fd, int request, int reply) {
    struct echo *e = malloc(sizeof *e);
    if (e == NULL) {
        return -ENOMEM;
    }
    *e = (struct echo){fd, request, reply};
    pthread_t t;
    int r = pthread_create(&t, NULL, echo_loop, e);
    if (r != 0) {
        free(e);
        return -r;
    }
    pthread_detach(t);
    return 0;
}

/* One round: request bytes from buf out, reply bytes back into buf. 0, or -errno. */
int jvfio_raw_round(int fd, void *buf, int request, int reply) {
    struct iovec iov = {buf, request};
    int r = send_all(fd, &iov, 1);
    return r < 0 ? r : recv_all(fd, buf, reply);
}
