/* kdumpd.conf(5): one "name value" per line, '#' comments. Parsing is pure
 * (kdumpd_config_parse over a buffer), so it has a fuzz target; loading the
 * key files it names is separate. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kdkp.h"

/* A kdumpd.conf larger than this is not a configuration file. */
#define CONFIG_MAX (1u << 20)
#define CONFIG_KEYS_MAX 4096u
#define CONFIG_PATH_MAX 1024u
#define CONFIG_NAME_MAX 64u
/* max_sessions and max_meta_sessions: each session is a slot (and, when it
 * receives, a window) in the network child. */
#define CONFIG_SESSIONS_MAX 4096u

struct kdumpd_key {
        char name[CONFIG_NAME_MAX + 1];
        char path[CONFIG_PATH_MAX + 1];
        bool fleet;                     /* fleet_key: the client's hostname names the dump */
        struct kdkp_psk psk;            /* set by kdumpd_config_load_keys */
};

/* max_datagram's default: v1's ceiling before session 7. With 65507-byte
 * datagrams, one CI run of the 20%-loss test under ASan took 152 s instead
 * of 2 (after its RTOs the client fell back to 1472 bytes and crawled);
 * until that is understood, larger frames are the operator's choice. */
#define CONFIG_MAX_DATAGRAM_DEFAULT 16384u

struct kdumpd_config {
        char listen[CONFIG_PATH_MAX + 1];      /* ADDRESS:PORT, [ADDRESS]:PORT */
        char dump_dir[CONFIG_PATH_MAX + 1];
        char index[CONFIG_PATH_MAX + 1];
        char user[CONFIG_NAME_MAX + 1];        /* the network child's user; "" = stay */
        char hook[CONFIG_PATH_MAX + 1];
        uint64_t max_sessions, max_meta_sessions, max_sessions_per_host, max_dump_size, max_meta_size, window;
        uint64_t rate_total, rate_per_host, min_free, idle_timeout, resume_keep;
        uint64_t keep_per_host, max_total_size, max_dumps_per_host;
        uint64_t max_datagram;                 /* the message-size cap, KDKP_BASE_DGRAM..KDKP_MAX_DGRAM */
        struct kdumpd_key *keys;
        size_t n_keys;
};

/* The defaults of kdumpd.conf(5). */
void kdumpd_config_init(struct kdumpd_config *c);
void kdumpd_config_done(struct kdumpd_config *c);

/* Parses text[0..len). Returns 0, or -EINVAL with "line N: why" in why. */
int kdumpd_config_parse(struct kdumpd_config *c, const char *text, size_t len, char *why, size_t why_len);
/* Reads path and parses it. */
int kdumpd_config_read(struct kdumpd_config *c, const char *path, char *why, size_t why_len);
/* Reads each key file (64 hex digits, mode 0600 or stricter) and derives its
 * key_id; two keys with one key_id are an error. */
int kdumpd_config_load_keys(struct kdumpd_config *c, char *why, size_t why_len);
/* The key whose key_id this is, or NULL. Host keys are preferred. */
const struct kdumpd_key *kdumpd_config_find_key(const struct kdumpd_config *c, const uint8_t key_id[8]);
