/* kdumpd.conf parsing and key loading. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "config.h"
#include "io.h"
#include "size.h"

void kdumpd_config_init(struct kdumpd_config *c) {
        *c = (struct kdumpd_config){
                .max_sessions = 16, .max_meta_sessions = 64, .max_sessions_per_host = 2, .max_dump_size = 256ull << 30,
                .max_meta_size = 32u << 20, .window = 4u << 20, .rate_total = 125000000, .min_free = 2ull << 30,
                .idle_timeout = 60, .resume_keep = 3600, .keep_per_host = 10, .max_dumps_per_host = 10,
                .max_datagram = CONFIG_MAX_DATAGRAM_DEFAULT,
        };
        snprintf(c->listen, sizeof(c->listen), "0.0.0.0:%d", KDKP_PORT);
        snprintf(c->dump_dir, sizeof(c->dump_dir), "/var/crash");
        snprintf(c->index, sizeof(c->index), "/var/lib/kdumpd/index.db");
}

void kdumpd_config_done(struct kdumpd_config *c) {
        if (c->keys)
                sodium_memzero(c->keys, c->n_keys * sizeof(*c->keys));
        free(c->keys);
        c->keys = NULL;
        c->n_keys = 0;
}

enum kind { STRING, SIZE, NUMBER };

struct option_def {
        const char *name;
        enum kind kind;
        size_t offset, size;
};

#define STR(f) { #f, STRING, offsetof(struct kdumpd_config, f), sizeof(((struct kdumpd_config *)0)->f) }
#define SZ(f) { #f, SIZE, offsetof(struct kdumpd_config, f), 0 }
#define NUM(f) { #f, NUMBER, offsetof(struct kdumpd_config, f), 0 }

static const struct option_def options[] = {
        STR(listen), STR(dump_dir), STR(index), STR(user), STR(hook),
        NUM(max_sessions), NUM(max_meta_sessions), NUM(max_sessions_per_host), SZ(max_dump_size), SZ(max_meta_size), SZ(window),
        SZ(rate_total), SZ(rate_per_host), SZ(min_free), NUM(idle_timeout), NUM(resume_keep),
        NUM(keep_per_host), SZ(max_total_size), NUM(max_dumps_per_host), NUM(max_datagram),
};

static int set_number(uint64_t *dst, const char *v, size_t vlen, bool size) {
        char buf[SIZE_STRING_MAX + 1];
        char *end;

        if (size)
                return size_parse(v, vlen, dst);
        if (vlen == 0 || vlen > SIZE_STRING_MAX)
                return -EINVAL;
        memcpy(buf, v, vlen);
        buf[vlen] = '\0';
        if (buf[0] < '0' || buf[0] > '9')
                return -EINVAL;
        errno = 0;
        *dst = strtoull(buf, &end, 10);
        return errno || *end ? -EINVAL : 0;
}

static int add_key(struct kdumpd_config *c, bool fleet, const char *v, size_t vlen) {
        const char *sp = memchr(v, ' ', vlen);
        struct kdumpd_key *k;
        size_t nlen, plen;

        if (!sp)
                return -EINVAL;
        nlen = (size_t)(sp - v);
        while (sp < v + vlen && *sp == ' ')
                sp++;
        plen = (size_t)(v + vlen - sp);
        if (nlen == 0 || nlen > CONFIG_NAME_MAX || plen == 0 || plen > CONFIG_PATH_MAX || c->n_keys >= CONFIG_KEYS_MAX)
                return -EINVAL;
        for (size_t i = 0; i < nlen; i++)
                if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= '0' && v[i] <= '9') ||
                      v[i] == '.' || v[i] == '-' || v[i] == '_'))
                        return -EINVAL;
        k = realloc(c->keys, (c->n_keys + 1) * sizeof(*k));
        if (!k)
                return -ENOMEM;
        c->keys = k;
        k = &c->keys[c->n_keys++];
        memset(k, 0, sizeof(*k));
        memcpy(k->name, v, nlen);
        memcpy(k->path, sp, plen);
        k->fleet = fleet;
        return 0;
}

static int parse_line(struct kdumpd_config *c, const char *line, size_t len) {
        const char *sp = memchr(line, ' ', len), *v;
        size_t nlen, vlen;

        if (!sp)
                return -EINVAL;
        nlen = (size_t)(sp - line);
        for (v = sp; v < line + len && *v == ' '; v++)
                ;
        vlen = (size_t)(line + len - v);
        if (nlen == 8 && memcmp(line, "host_key", 8) == 0)
                return add_key(c, false, v, vlen);
        if (nlen == 9 && memcmp(line, "fleet_key", 9) == 0)
                return add_key(c, true, v, vlen);
        for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
                const struct option_def *o = &options[i];
                if (strlen(o->name) != nlen || memcmp(o->name, line, nlen) != 0)
                        continue;
                if (o->kind != STRING)
                        return set_number((uint64_t *)((char *)c + o->offset), v, vlen, o->kind == SIZE);
                if (vlen >= o->size || memchr(v, '\0', vlen))
                        return -EINVAL;
                memcpy((char *)c + o->offset, v, vlen);
                ((char *)c + o->offset)[vlen] = '\0';
                return 0;
        }
        return -ENOENT;
}

int kdumpd_config_parse(struct kdumpd_config *c, const char *text, size_t len, char *why, size_t why_len) {
        unsigned lineno = 0;

        if (len > CONFIG_MAX) {
                snprintf(why, why_len, "larger than %u bytes", CONFIG_MAX);
                return -EFBIG;
        }
        while (len > 0) {
                const char *nl = memchr(text, '\n', len);
                size_t n = nl ? (size_t)(nl - text) : len, start = 0, end = n;
                int r;

                lineno++;
                for (size_t i = 0; i < n; i++)
                        if (text[i] == '#') {
                                end = i;
                                break;
                        }
                while (start < end && (text[start] == ' ' || text[start] == '\t'))
                        start++;
                while (end > start && (text[end - 1] == ' ' || text[end - 1] == '\t' || text[end - 1] == '\r'))
                        end--;
                if (end > start && (r = parse_line(c, text + start, end - start)) < 0) {
                        snprintf(why, why_len, "line %u: %s: \"%.*s\"", lineno,
                                 r == -ENOENT ? "unknown setting" : r == -ENOMEM ? "out of memory" : "bad value",
                                 (int)(end - start > 80 ? 80 : end - start), text + start);
                        return r == -ENOMEM ? r : -EINVAL;
                }
                text += n + (nl ? 1 : 0);
                len -= n + (nl ? 1 : 0);
        }
        if (c->max_sessions == 0 || c->window < 2 * KDKP_SEG || c->max_meta_size < 4096) {
                snprintf(why, why_len, "max_sessions must be at least 1, window at least 2M, max_meta_size at least 4K");
                return -EINVAL;
        }
        /* Below the base size a HELLO would not fit. */
        if (c->max_datagram < KDKP_BASE_DGRAM || c->max_datagram > KDKP_MAX_DGRAM) {
                snprintf(why, why_len, "max_datagram is from %u to %u", KDKP_BASE_DGRAM, KDKP_MAX_DGRAM);
                return -EINVAL;
        }
        if (c->max_sessions > CONFIG_SESSIONS_MAX || c->max_meta_sessions > CONFIG_SESSIONS_MAX) {
                snprintf(why, why_len, "max_sessions and max_meta_sessions are at most %u", CONFIG_SESSIONS_MAX);
                return -EINVAL;
        }
        return 0;
}

int kdumpd_config_read(struct kdumpd_config *c, const char *path, char *why, size_t why_len) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *text = malloc(CONFIG_MAX + 1);
        ssize_t n;

        if (!text)
                return -ENOMEM;
        if (fd < 0 || (n = read_full(fd, text, CONFIG_MAX + 1)) < 0) {
                snprintf(why, why_len, "%s", strerror(errno));
                return -errno;
        }
        return kdumpd_config_parse(c, text, (size_t)n, why, why_len);
}

static int load_key(struct kdumpd_key *k, char *why, size_t why_len) {
        _cleanup_close_ int fd = open(k->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        char text[2 * KDKP_KEY_BYTES + 2];
        uint8_t psk[KDKP_KEY_BYTES];
        struct stat st;
        ssize_t n;

        if (fd < 0 || fstat(fd, &st) < 0) {
                snprintf(why, why_len, "key %s: %s: %s", k->name, k->path, strerror(errno));
                return -errno;
        }
        if (st.st_mode & 077) {
                snprintf(why, why_len, "key %s: %s is readable by group or others (mode %04o)", k->name, k->path,
                         (unsigned)(st.st_mode & 07777));
                return -EPERM;
        }
        n = read_full(fd, text, sizeof(text));
        if (n < 0 || kdkp_key_parse(text, (size_t)n, psk) < 0) {
                snprintf(why, why_len, "key %s: %s is not 64 hexadecimal digits and a newline", k->name, k->path);
                return -EINVAL;
        }
        kdkp_psk_init(&k->psk, psk);
        sodium_memzero(psk, sizeof(psk));
        sodium_memzero(text, sizeof(text));
        return 0;
}

int kdumpd_config_load_keys(struct kdumpd_config *c, char *why, size_t why_len) {
        for (size_t i = 0; i < c->n_keys; i++) {
                int r = load_key(&c->keys[i], why, why_len);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (memcmp(c->keys[i].psk.key_id, c->keys[j].psk.key_id, 8) == 0) {
                                snprintf(why, why_len, "keys %s and %s share a key id (the same key twice?)",
                                         c->keys[j].name, c->keys[i].name);
                                return -EINVAL;
                        }
        }
        return 0;
}

const struct kdumpd_key *kdumpd_config_find_key(const struct kdumpd_config *c, const uint8_t key_id[8]) {
        const struct kdumpd_key *fleet = NULL;

        for (size_t i = 0; i < c->n_keys; i++)
                if (memcmp(c->keys[i].psk.key_id, key_id, 8) == 0) {
                        if (!c->keys[i].fleet)
                                return &c->keys[i];
                        fleet = &c->keys[i];
                }
        return fleet;
}
