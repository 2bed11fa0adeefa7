/* kdumpd: the collection server for dumps sent over UDP (docs/protocol.md),
 * and its CLI in the manner of coredumpctl:
 *   kdumpd serve [-c CONF]
 *   kdumpd list [--host H] [--since T] [--json] | show ID | stats
 *   kdumpd keygen FILE */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "config.h"
#include "dumpindex.h"
#include "dumplist.h"
#include "io.h"
#include "privsep.h"
#include "receiver.h"
#include "store.h"

#define DEFAULT_CONFIG "/etc/kdumpd/kdumpd.conf"
#define LOCK_NAME ".kdumpd.lock"

/* The one piece of global state: set by SIGTERM and SIGINT. */
static volatile sig_atomic_t stop_requested;

static void on_stop(int sig) {
        (void)sig;
        stop_requested = 1;
}

static int usage(FILE *f, int status) {
        fprintf(f, "usage: kdumpd serve [-c CONF]\n"
                   "       kdumpd list [-c CONF] [--host HOST] [--since YYYY-MM-DD[ HH:MM:SS]] [--json]\n"
                   "       kdumpd show [-c CONF] ID\n"
                   "       kdumpd stats [-c CONF]\n"
                   "       kdumpd keygen FILE\n"
                   "See kdumpd(8) and kdumpd.conf(5).\n");
        return status;
}

static int bind_socket(const char *listen, char *why, size_t why_len) {
        struct sockaddr_storage ss = { 0 };
        struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        char host[128];
        const char *colon = strrchr(listen, ':');
        size_t n = colon ? (size_t)(colon - listen) : 0;
        long port = colon ? strtol(colon + 1, NULL, 10) : 0;
        int fd, one = 1, buf = 32 << 20;
        socklen_t len;

        if (n >= 2 && listen[0] == '[' && listen[n - 1] == ']')
                listen++, n -= 2;
        if (!colon || n == 0 || n >= sizeof(host) || port < 1 || port > 65535) {
                snprintf(why, why_len, "listen %.200s: not ADDRESS:PORT", listen);
                return -EINVAL;
        }
        memcpy(host, listen, n);
        host[n] = '\0';
        if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
                in4->sin_family = AF_INET;
                in4->sin_port = htons((uint16_t)port);
                len = sizeof(*in4);
        } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t)port);
                len = sizeof(*in6);
        } else {
                snprintf(why, why_len, "listen %s: not an IPv4 or IPv6 address", host);
                return -EINVAL;
        }
        fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* Many clients at once: past net.core.rmem_max where root may.
         * 32 MiB holds 500 of the largest datagrams (65507 bytes); with
         * 8 MiB, 50 loopback senders each sent 21 MiB of a 39 MiB dump
         * again (5 with 16 KiB datagrams), and 1 run in 3 took minutes. */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) < 0)
                (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
        if (ss.ss_family == AF_INET6)
                (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){ 0 }, sizeof(int));
        (void)one;
        if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
                int e = errno;
                snprintf(why, why_len, "bind %.200s: %s", listen, strerror(e));
                close(fd);
                return -e;
        }
        return fd;
}

/* The network child gives up every privilege it can before it reads a
 * packet: the configured user, no supplementary groups, no new privileges. */
static int drop_privileges(const char *user, char *why, size_t why_len) {
        if (user[0] && geteuid() == 0) {
                struct passwd *pw = getpwnam(user);
                if (!pw) {
                        snprintf(why, why_len, "user %s does not exist", user);
                        return -ENOENT;
                }
                if (chdir("/") < 0 || setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
                        snprintf(why, why_len, "dropping privileges to %s: %s", user, strerror(errno));
                        return -EPERM;
                }
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                snprintf(why, why_len, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
                return -errno;
        }
        return 0;
}

static void child(const struct kdumpd_config *c, int sock, int ps) {
        char why[256];

        if (drop_privileges(c->user, why, sizeof(why)) < 0) {
                fprintf(stderr, "kdumpd: %s\n", why);
                _exit(1);
        }
        _exit(receiver_run(c, sock, ps, &stop_requested) < 0 ? 1 : 0);
}

static int parent_loop(struct store *s, int ps, pid_t pid) {
        int status;

        while (!stop_requested) {
                struct pollfd p = { .fd = ps, .events = POLLIN };
                struct ps_msg m;
                int fds[PS_FDS], n, e;

                store_reap(s);
                if (poll(&p, 1, 1000) <= 0)
                        continue;
                e = ps_recv(ps, &m, fds);
                if (e == -EPIPE)
                        break;
                if (e < 0) {
                        fprintf(stderr, "kdumpd: a malformed request from the network child: %s\n", strerror(-e));
                        break;
                }
                for (int i = 0; i < PS_FDS; i++) /* the child never sends fds */
                        if (fds[i] >= 0)
                                close(fds[i]);
                n = store_handle(s, &m, fds);
                if (m.type == PS_NO_REPLY)
                        continue;
                e = ps_send(ps, &m, fds, n > 0 ? (unsigned)n : 0);
                for (int i = 0; i < n; i++)
                        close(fds[i]);
                if (e < 0)
                        break;
        }
        kill(pid, SIGTERM);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        return stop_requested || (WIFEXITED(status) && WEXITSTATUS(status) == 0) ? 0 : -EIO;
}

/* The lock says a daemon is running: without one, nothing is receiving. */
static int take_lock(const struct kdumpd_config *c, int how) {
        _cleanup_close_ int d = open(c->dump_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int fd = d < 0 ? -1 : openat(d, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

        if (fd < 0)
                return -errno;
        if (flock(fd, how | LOCK_NB) < 0) {
                int e = -errno;
                close(fd);
                return e;
        }
        return fd;
}

static int mark_cb(const struct dump_record *r, void *userdata) {
        struct dump_record copy = *r;

        if (strcmp(r->status, "receiving") == 0)
                snprintf(copy.status, sizeof(copy.status), "incomplete");
        else if (strcmp(r->status, "refused") != 0 || r->finished)
                return 0;
        /* from now on resume_keep counts */
        copy.finished = time(NULL);
        return dump_index_update(userdata, &copy);
}

/* Dumps left "receiving" by a daemon that died are "incomplete": a client
 * that comes back still resumes them. Those and "refused" ones left open
 * are spared by retention for resume_keep from now. */
static void mark_interrupted(struct dump_index *idx) {
        (void)dump_index_foreach(idx, NULL, 0, mark_cb, idx);
}

static int serve(const struct kdumpd_config *c) {
        _cleanup_(store_freep) struct store *s = NULL;
        _cleanup_close_ int sock = -1, lock = -1;
        struct sigaction sa = { .sa_handler = on_stop };
        int ps[2];
        char why[512];
        pid_t pid;
        int e;

        sock = bind_socket(c->listen, why, sizeof(why));
        if (sock < 0) {
                fprintf(stderr, "kdumpd: %s\n", why);
                return sock;
        }
        if ((e = store_new(c, &s, why, sizeof(why))) < 0) {
                fprintf(stderr, "kdumpd: %s\n", why);
                return e;
        }
        lock = take_lock(c, LOCK_EX);
        if (lock < 0) {
                fprintf(stderr, "kdumpd: %s: another kdumpd serves this directory\n", c->dump_dir);
                return lock;
        }
        mark_interrupted(store_index(s));
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ps) < 0)
                return -errno;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                close(ps[0]);
                close(lock);
                child(c, sock, ps[1]);
        }
        close(ps[1]);
        close(sock);
        sock = -1;
        fprintf(stderr, "kdumpd: listening on %s, dumps in %s, %zu keys\n", c->listen, c->dump_dir, c->n_keys);
        e = parent_loop(s, ps[0], pid);
        close(ps[0]);
        return e;
}

static int keygen(const char *path) {
        uint8_t key[KDKP_KEY_BYTES];
        char hex[2 * KDKP_KEY_BYTES + 2];
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

        if (fd < 0) {
                fprintf(stderr, "kdumpd: %s: %s\n", path, strerror(errno));
                return -errno;
        }
        randombytes_buf(key, sizeof(key));
        sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
        hex[2 * KDKP_KEY_BYTES] = '\n';
        if (write_full(fd, hex, 2 * KDKP_KEY_BYTES + 1) < 0 || fsync(fd) < 0) {
                fprintf(stderr, "kdumpd: %s: %s\n", path, strerror(errno));
                return -EIO;
        }
        sodium_memzero(key, sizeof(key));
        sodium_memzero(hex, sizeof(hex));
        return 0;
}

static int parse_since(const char *s, int64_t *ret) {
        struct tm tm = { 0 };
        const char *end = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);

        if (!end || *end) {
                memset(&tm, 0, sizeof(tm));
                end = strptime(s, "%Y-%m-%d", &tm);
        }
        if (!end || *end)
                return -EINVAL;
        tm.tm_isdst = -1;
        *ret = (int64_t)mktime(&tm);
        return 0;
}

static int query(const struct kdumpd_config *c, const char *cmd, const char *host, int64_t since, bool json,
                 const char *id) {
        _cleanup_(dump_index_freep) struct dump_index *idx = NULL;
        _cleanup_close_ int lock = take_lock(c, LOCK_EX);
        int e = dump_index_open(c->index, &idx);
        char *end;

        if (e < 0) {
                fprintf(stderr, "kdumpd: %s: %s\n", c->index, strerror(-e));
                return e;
        }
        if (lock >= 0)
                mark_interrupted(idx);
        if (strcmp(cmd, "list") == 0)
                return dump_list_print(idx, stdout, host, since, json);
        if (strcmp(cmd, "stats") == 0)
                return dump_stats_print(idx, stdout);
        errno = 0;
        long long n = strtoll(id, &end, 10);
        if (errno || *end || n <= 0) {
                fprintf(stderr, "kdumpd: show %s: not a dump id\n", id);
                return -EINVAL;
        }
        e = dump_show_print(idx, stdout, n, c->dump_dir);
        if (e == -ENOENT)
                fprintf(stderr, "kdumpd: no dump %lld\n", n);
        return e;
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                { "config", required_argument, NULL, 'c' }, { "host", required_argument, NULL, 'H' },
                { "since", required_argument, NULL, 's' },  { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },         {}
        };
        const char *config = DEFAULT_CONFIG, *host = NULL, *cmd;
        struct kdumpd_config c;
        int64_t since = 0;
        bool json = false;
        char why[512];
        int opt, e;

        if (argc < 2)
                return usage(stderr, 2);
        cmd = argv[1];
        if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0)
                return usage(stdout, 0);
        if (sodium_init() < 0)
                return 1;
        if (strcmp(cmd, "keygen") == 0)
                return argc == 3 ? (keygen(argv[2]) < 0) : usage(stderr, 2);
        optind = 2;
        while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) >= 0) {
                switch (opt) {
                case 'c': config = optarg; break;
                case 'H': host = optarg; break;
                case 's':
                        if (parse_since(optarg, &since) < 0) {
                                fprintf(stderr, "kdumpd: --since %s: not YYYY-MM-DD or \"YYYY-MM-DD HH:MM:SS\"\n", optarg);
                                return 2;
                        }
                        break;
                case 'j': json = true; break;
                case 'h': return usage(stdout, 0);
                default: return usage(stderr, 2);
                }
        }
        kdumpd_config_init(&c);
        if ((e = kdumpd_config_read(&c, config, why, sizeof(why))) < 0 && !(e == -ENOENT && strcmp(cmd, "serve") != 0)) {
                fprintf(stderr, "kdumpd: %s: %s\n", config, why);
                return 1;
        }
        if (strcmp(cmd, "serve") == 0) {
                if (optind != argc)
                        return usage(stderr, 2);
                if (c.n_keys == 0 || kdumpd_config_load_keys(&c, why, sizeof(why)) < 0) {
                        fprintf(stderr, "kdumpd: %s: %s\n", config, c.n_keys ? why : "no host_key or fleet_key; there is no keyless mode");
                        kdumpd_config_done(&c);
                        return 1;
                }
                e = serve(&c);
        } else if (strcmp(cmd, "list") == 0 || strcmp(cmd, "stats") == 0) {
                e = optind == argc ? query(&c, cmd, host, since, json, NULL) : (usage(stderr, 2), -EINVAL);
        } else if (strcmp(cmd, "show") == 0) {
                e = optind + 1 == argc ? query(&c, cmd, NULL, 0, false, argv[optind]) : (usage(stderr, 2), -EINVAL);
        } else {
                return usage(stderr, 2);
        }
        kdumpd_config_done(&c);
        return e < 0 ? 1 : 0;
}
