/* kdumpd's index of dumps: SQLite in WAL mode, with hosts, dumps and crash
 * signatures. Strings in it came from clients; they are bound as parameters,
 * never pasted into SQL, and escaped when printed (dumplist.c). */
#pragma once

#include <stdint.h>

#include "cleanup.h"

struct dump_index;

struct dump_record {
        int64_t id;              /* rowid, set by the index */
        char host[65];           /* the host key's name, or the sanitised name a fleet client claimed */
        char ip[46];
        char key_name[65];
        char dump_id[33];        /* 32 hex digits: the client's random dump id */
        char dir[256];           /* directory name under the dump root */
        char release[65];
        char machine[17];
        char reason[512];        /* from lib/signature, may be empty */
        char signature[65];      /* 64 hex digits or empty */
        int64_t crash_time;      /* unix seconds, 0 unknown */
        int64_t received;        /* when the dump was admitted */
        int64_t finished;        /* when it ended, 0 while receiving */
        int64_t size;            /* bytes of the stored vmcore */
        char status[16];         /* receiving, complete, meta-only, hash-mismatch, failed, incomplete */
};

/* Opens (creating the schema if needed) the index at path. Returns 0, or
 * -EPROTO for an index from a newer kdumpd, or another negative errno. */
int dump_index_open(const char *path, struct dump_index **ret);
struct dump_index *dump_index_free(struct dump_index *idx);
DEFINE_CLEANUP_FUNC(struct dump_index, dump_index_free);

/* Inserts r and sets r->id; counts the host. */
int dump_index_add(struct dump_index *idx, struct dump_record *r);
/* Rewrites row r->id. A dump that has ended, with a signature, is counted
 * once in the signatures table. */
int dump_index_update(struct dump_index *idx, const struct dump_record *r);
/* -ENOENT when there is no such row. */
int dump_index_get(struct dump_index *idx, int64_t id, struct dump_record *ret);
int dump_index_find_dump_id(struct dump_index *idx, const char *key_name, const char *dump_id, struct dump_record *ret);
/* Records that host, under key_name, began a new dump at time; forgets
 * admissions older than a day. */
#define DUMP_INDEX_ADMISSIONS_KEPT 86400
int dump_index_admission(struct dump_index *idx, const char *key_name, const char *host, int64_t time);
/* How many new dumps host began under key_name at or after since (a day
 * back at most), whatever retention has removed since. */
int dump_index_count_recent(struct dump_index *idx, const char *key_name, const char *host, int64_t since,
                            int64_t *ret_count);
/* The row of a dump directory; -ENOENT when there is none. */
int dump_index_find_dir(struct dump_index *idx, const char *dir, struct dump_record *ret);
/* Deletes the row (retention); signature counts stay, as history. */
int dump_index_remove(struct dump_index *idx, int64_t id);
/* Oldest first; host NULL for all, since 0 for all. A callback's negative
 * return stops the walk and is returned. */
int dump_index_foreach(struct dump_index *idx, const char *host, int64_t since,
                       int (*fn)(const struct dump_record *r, void *userdata), void *userdata);

struct dump_index_count {
        char key[512];
        int64_t count, hosts, first_seen, last_seen;
        char example[512];       /* for signatures: a reason */
};
/* Counts by "signature", "release" or "host", most first. */
int dump_index_stats(struct dump_index *idx, const char *by,
                     int (*fn)(const struct dump_index_count *c, void *userdata), void *userdata);
