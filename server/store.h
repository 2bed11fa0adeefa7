/* kdumpd's privileged side: the dump directories under dump_dir, their
 * files, the index, the notification hook and retention. It answers the
 * network child's requests (privsep.h). */
#pragma once

#include "cleanup.h"
#include "config.h"
#include "dumpindex.h"
#include "privsep.h"

struct store;

/* Opens dump_dir (creating it 0700 if missing) and the index. Returns 0 or a
 * negative errno with why. */
int store_new(const struct kdumpd_config *c, struct store **ret, char *why, size_t why_len);
struct store *store_free(struct store *s);
DEFINE_CLEANUP_FUNC(struct store, store_free);

/* The index the store keeps (owned by it). */
struct dump_index *store_index(struct store *s);

/* Handles one request; fills the reply and up to PS_FDS fds (the caller
 * sends and then closes them). Returns the number of fds. */
int store_handle(struct store *s, struct ps_msg *m, int fds[PS_FDS]);

/* Reaps finished hooks. */
void store_reap(struct store *s);
