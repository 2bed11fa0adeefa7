/* Fixed-size messages with descriptors over a SOCK_SEQPACKET socketpair. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "privsep.h"

int ps_send(int sock, const struct ps_msg *m, const int *fds, unsigned n) {
        union {
                char buf[CMSG_SPACE(sizeof(int) * PS_FDS)];
                struct cmsghdr align;
        } u;
        struct iovec iov = { .iov_base = (void *)m, .iov_len = sizeof(*m) };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (n > PS_FDS)
                return -EINVAL;
        if (n) {
                struct cmsghdr *c;
                memset(&u, 0, sizeof(u));
                msg.msg_control = u.buf;
                msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
                c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
        }
        for (;;) {
                ssize_t r = sendmsg(sock, &msg, MSG_NOSIGNAL);
                if (r == (ssize_t)sizeof(*m))
                        return 0;
                if (r < 0 && errno == EINTR)
                        continue;
                return r < 0 ? -errno : -EIO;
        }
}

int ps_recv(int sock, struct ps_msg *m, int fds[PS_FDS]) {
        union {
                char buf[CMSG_SPACE(sizeof(int) * PS_FDS)];
                struct cmsghdr align;
        } u;
        struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
        ssize_t r;

        for (unsigned i = 0; i < PS_FDS; i++)
                fds[i] = -1;
        do
                r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return -errno;
        if (r == 0)
                return -EPIPE;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                size_t n;
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < n; i++) {
                        int fd;
                        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (i < PS_FDS)
                                fds[i] = fd;
                        else
                                close(fd);
                }
        }
        if ((size_t)r != sizeof(*m) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || m->type < PS_ADMIT || m->type > PS_PAUSED) {
                for (unsigned i = 0; i < PS_FDS; i++)
                        if (fds[i] >= 0)
                                close(fds[i]), fds[i] = -1;
                return -EBADMSG;
        }
        /* Strings from the other side are terminated here, whatever it sent. */
        m->key_name[sizeof(m->key_name) - 1] = m->dump_id[sizeof(m->dump_id) - 1] = m->ip[sizeof(m->ip) - 1] = 0;
        m->host[sizeof(m->host) - 1] = m->release[sizeof(m->release) - 1] = m->machine[sizeof(m->machine) - 1] = 0;
        m->dir[sizeof(m->dir) - 1] = m->dump_status[sizeof(m->dump_status) - 1] = 0;
        m->signature[sizeof(m->signature) - 1] = m->reason[sizeof(m->reason) - 1] = 0;
        return 0;
}
