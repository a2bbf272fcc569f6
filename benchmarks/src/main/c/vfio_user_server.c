/*
 * The C server baseline of the vfio-user benchmarks (VfioUserBenchmark, VfioUserBulkBenchmark),
 * compiled with cc when a benchmark first needs it and started through JNA. It is NOT libvfio-user:
 * libvfio-user is the natural baseline for jvfio's server, but it is not packaged in Debian and
 * cannot be fetched here (only Maven Central and Debian are reachable), so this file stands in for
 * it. A minimal vfio-user server written from the spec (docs/devel/vfio-user.rst, version 0.1),
 * with libvfio-user's shape of a request in its blocking mode (vfu_run_ctx without
 * LIBVFIO_USER_FLAG_ATTACH_NB; tran_sock.c): a blocking socket on a thread of its own, the header
 * received with recvmsg (MSG_WAITALL, room for fds), the payload with recv (MSG_WAITALL) into a
 * buffer, the command handled, and one sendmsg for the reply (header and data as iovecs). Three
 * system calls a request, as libvfio-user's; no epoll.
 *
 * The device: enough of a PCI device for a client's connect (VERSION, DEVICE_GET_INFO,
 * DEVICE_GET_REGION_INFO and DEVICE_GET_IRQ_INFO, DMA_MAP/UNMAP and SET_IRQS taken and their fds
 * closed): BAR0, 4 KiB of registers laid out as edu's first two (0x00 identification 0x010000ed,
 * 0x04 liveness: reads the inverse of what was written), the rest reading 0; BAR2, 1 MiB of memory
 * (accessed by messages, not offered for mmap); and a 256-byte config space (edu's IDs). Anything
 * else gets an error reply (EOPNOTSUPP, as the spec's ENOTSUP). One client at a time, as the spec
 * says; the next is accepted when it goes.
 *
 * Every function returns a negative errno on failure.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "vfio_user_socket.h"

#define VFIO_DEVICE_FLAGS_PCI (1 << 1)
#define VFIO_DEVICE_FLAGS_RESET (1 << 0)
#define VFIO_REGION_INFO_FLAG_READ (1 << 0)
#define VFIO_REGION_INFO_FLAG_WRITE (1 << 1)
#define VFIO_IRQ_INFO_EVENTFD (1 << 0)

#define REGIONS 9 /* VFIO_PCI_NUM_REGIONS: BAR0-5, ROM, config, VGA */
#define CONFIG_REGION 7
#define BAR0_SIZE 4096
#define BAR2_SIZE (1 << 20)
#define CONFIG_SIZE 256
#define MAX_DATA_XFER (1 << 20)
#define BODY_MAX (MAX_DATA_XFER + 4096)
#define MAX_FDS 16

struct server {
    int listen_fd;
    pthread_t thread;
    volatile int stopping;
    struct sockaddr_un addr;
    uint32_t liveness;
    uint8_t config[CONFIG_SIZE];
    uint8_t *bar2;
    uint8_t *body; /* the payload of the request being handled */
};

/* The header, with any fds that came with it closed (this server maps nothing): 0, or -errno / -EPIPE at the end. */
static int recv_header(int fd, struct vfio_user_header *h) {
    union {
        char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {h, sizeof *h};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                       .msg_controllen = sizeof control.buf};
    ssize_t n;
    do {
        n = recvmsg(fd, &m, MSG_WAITALL | MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -errno;
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (int i = 0; i < count; i++) {
                close(((int *) CMSG_DATA(c))[i]);
            }
        }
    }
    if (n == 0) {
        return -EPIPE;
    }
    if ((size_t) n < sizeof *h) {
        return recv_all(fd, (char *) h + n, sizeof *h - n);
    }
    return 0;
}

static int reply(int fd, const struct vfio_user_header *q, const void *payload, size_t length,
                 const void *data, size_t data_length) {
    struct vfio_user_header h = {.msg_id = q->msg_id, .command = q->command,
                                 .msg_size = sizeof h + length + data_length, .flags = VFIO_USER_F_TYPE_REPLY};
    struct iovec iov[3] = {{&h, sizeof h}, {(void *) payload, length}, {(void *) data, data_length}};
    return send_all(fd, iov, 3);
}

static int error_reply(int fd, const struct vfio_user_header *q, int error) {
    struct vfio_user_header h = {.msg_id = q->msg_id, .command = q->command, .msg_size = sizeof h,
                                 .flags = VFIO_USER_F_TYPE_REPLY | VFIO_USER_F_ERROR, .error_no = error};
    struct iovec iov = {&h, sizeof h};
    return send_all(fd, &iov, 1);
}

static uint64_t region_size(int index) {
    switch (index) {
        case 0: return BAR0_SIZE;
        case 2: return BAR2_SIZE;
        case CONFIG_REGION: return CONFIG_SIZE;
        default: return 0;
    }
}

/* A register of BAR0 (edu's layout): what a read of it returns. */
static uint32_t bar0_read(struct server *s, uint64_t offset) {
    switch (offset) {
        case 0x00: return 0x010000ed;
        case 0x04: return ~s->liveness;
        default: return 0;
    }
}

/* One request (its header and payload in hand): 0 to go on, <0 to end the session. */
static int handle(struct server *s, int fd, const struct vfio_user_header *q, uint32_t length) {
    uint8_t *p = s->body;
    int no_reply = q->flags & VFIO_USER_F_NO_REPLY;
    switch (q->command) {
        case VFIO_USER_VERSION: {
            if (length < 4) {
                return error_reply(fd, q, EINVAL);
            }
            uint16_t minor = *(uint16_t *) (p + 2);
            char v[160];
            *(uint16_t *) v = 0;
            *(uint16_t *) (v + 2) = minor < 1 ? minor : 1;
            int n = snprintf(v + 4, sizeof v - 4, "{\"capabilities\":{\"max_msg_fds\":%d,\"max_data_xfer_size\":%d}}",
                             MAX_FDS, MAX_DATA_XFER);
            return reply(fd, q, v, 4 + n + 1, NULL, 0);
        }
        case VFIO_USER_DMA_MAP:
        case VFIO_USER_DEVICE_SET_IRQS:
        case VFIO_USER_DEVICE_RESET:
            return no_reply ? 0 : reply(fd, q, NULL, 0, NULL, 0); /* taken; their fds were closed */
        case VFIO_USER_DMA_UNMAP:
            return no_reply ? 0 : reply(fd, q, p, length < 24 ? length : 24, NULL, 0);
        case VFIO_USER_DEVICE_GET_INFO: {
            uint32_t info[4] = {16, VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET, REGIONS, 1};
            return reply(fd, q, info, sizeof info, NULL, 0);
        }
        case VFIO_USER_DEVICE_GET_REGION_INFO: {
            if (length < 32) {
                return error_reply(fd, q, EINVAL);
            }
            uint32_t index = *(uint32_t *) (p + 8);
            if (index >= REGIONS) {
                return error_reply(fd, q, EINVAL);
            }
            uint64_t size = region_size(index);
            struct {
                uint32_t argsz, flags, index, cap_offset;
                uint64_t size, offset;
            } info = {32, size ? VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE : 0, index, 0, size, 0};
            return reply(fd, q, &info, sizeof info, NULL, 0);
        }
        case VFIO_USER_DEVICE_GET_IRQ_INFO: {
            if (length < 16) {
                return error_reply(fd, q, EINVAL);
            }
            uint32_t index = *(uint32_t *) (p + 8);
            if (index >= 1) {
                return error_reply(fd, q, EINVAL);
            }
            uint32_t info[4] = {16, VFIO_IRQ_INFO_EVENTFD, index, 1}; /* INTx, one vector */
            return reply(fd, q, info, sizeof info, NULL, 0);
        }
        case VFIO_USER_REGION_READ:
        case VFIO_USER_REGION_WRITE: {
            if (length < 16) {
                return error_reply(fd, q, EINVAL);
            }
            uint64_t offset = *(uint64_t *) p;
            uint32_t index = *(uint32_t *) (p + 8);
            uint32_t count = *(uint32_t *) (p + 12);
            int write = q->command == VFIO_USER_REGION_WRITE;
            uint64_t size = index < REGIONS ? region_size(index) : 0;
            if (count == 0 || count > MAX_DATA_XFER || offset > size || count > size - offset
                || (write && length < 16 + count)) {
                return no_reply ? 0 : error_reply(fd, q, EINVAL);
            }
            uint8_t *data = p + 16;
            uint32_t value = 0;
            if (index == 2) {
                if (write) {
                    memcpy(s->bar2 + offset, data, count);
                } else {
                    data = s->bar2 + offset;
                }
            } else if (index == CONFIG_REGION) {
                if (!write) {
                    data = s->config + offset; /* writes are dropped: a read-only config space */
                }
            } else if (write) {
                if (offset == 0x04 && count == 4) {
                    s->liveness = *(uint32_t *) data;
                }
            } else {
                if (count > 8 || offset % count != 0) {
                    return error_reply(fd, q, EINVAL);
                }
                value = bar0_read(s, offset & ~3ULL);
                value >>= (offset & 3) * 8;
                data = (uint8_t *) &value;
            }
            if (no_reply) {
                return 0;
            }
            return reply(fd, q, p, 16, write ? NULL : data, write ? 0 : count);
        }
        default:
            return no_reply ? 0 : error_reply(fd, q, EOPNOTSUPP);
    }
}

/* One client, until it goes or breaks the framing. */
static void serve(struct server *s, int fd) {
    for (;;) {
        struct vfio_user_header h;
        if (recv_header(fd, &h) < 0) {
            return;
        }
        if (h.msg_size < sizeof h || h.msg_size - sizeof h > BODY_MAX) {
            return; /* the stream cannot be resynchronised */
        }
        uint32_t length = h.msg_size - sizeof h;
        if (length > 0 && recv_all(fd, s->body, length) < 0) {
            return;
        }
        if ((h.flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_COMMAND) {
            continue; /* this server sends no requests: a reply is nobody's */
        }
        if (handle(s, fd, &h, length) < 0) {
            return;
        }
    }
}

static void *accept_loop(void *arg) {
    struct server *s = arg;
    while (!s->stopping) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            break;
        }
        if (!s->stopping) {
            serve(s, fd);
        }
        close(fd);
    }
    return NULL;
}

/* Serves the device at path (a fresh socket) on a thread of its own; the server's handle, or -errno. */
long jvfio_vus_start(const char *path) {
    struct server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return -ENOMEM;
    }
    s->bar2 = calloc(1, BAR2_SIZE);
    s->body = malloc(BODY_MAX);
    if (s->bar2 == NULL || s->body == NULL) {
        free(s->bar2);
        free(s->body);
        free(s);
        return -ENOMEM;
    }
    *(uint16_t *) s->config = 0x1234;       /* vendor: edu's */
    *(uint16_t *) (s->config + 2) = 0x11e8; /* device */
    s->addr.sun_family = AF_UNIX;
    strncpy(s->addr.sun_path, path, sizeof s->addr.sun_path - 1);
    int r = 0;
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *) &s->addr, sizeof s->addr) < 0
        || listen(s->listen_fd, 4) < 0) {
        r = -errno;
    } else {
        r = -pthread_create(&s->thread, NULL, accept_loop, s);
    }
    if (r < 0) {
        if (s->listen_fd >= 0) {
            close(s->listen_fd);
        }
        free(s->bar2);
        free(s->body);
        free(s);
        return r;
    }
    return (long) (intptr_t) s;
}

/*
 * Stops the server: its client must have gone (the thread serves it to its end); a connection of
 * its own wakes the accept, the thread ends, the socket file is removed. 0, or -errno.
 */
int jvfio_vus_stop(long handle) {
    struct server *s = (struct server *) (intptr_t) handle;
    s->stopping = 1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        connect(fd, (struct sockaddr *) &s->addr, sizeof s->addr);
    }
    pthread_join(s->thread, NULL);
    if (fd >= 0) {
        close(fd);
    }
    close(s->listen_fd);
    unlink(s->addr.sun_path);
    free(s->bar2);
    free(s->body);
    free(s);
    return 0;
}
