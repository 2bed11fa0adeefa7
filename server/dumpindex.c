/* The SQLite index. */
#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpindex.h"

#define SCHEMA_VERSION 1

struct dump_index {
        sqlite3 *db;
};

static const char schema[] =
        "CREATE TABLE IF NOT EXISTS hosts(name TEXT PRIMARY KEY, first_seen INTEGER, last_seen INTEGER, dumps INTEGER);"
        "CREATE TABLE IF NOT EXISTS dumps(id INTEGER PRIMARY KEY, host TEXT, ip TEXT, key_name TEXT, dump_id TEXT,"
        " dir TEXT UNIQUE, release TEXT, machine TEXT, reason TEXT, signature TEXT, crash_time INTEGER,"
        " received INTEGER, finished INTEGER, size INTEGER, status TEXT, counted INTEGER DEFAULT 0);"
        "CREATE TABLE IF NOT EXISTS signatures(hash TEXT PRIMARY KEY, reason TEXT, first_seen INTEGER,"
        " last_seen INTEGER, count INTEGER, hosts INTEGER);"
        "CREATE INDEX IF NOT EXISTS dumps_by_id ON dumps(key_name, dump_id);"
        "CREATE INDEX IF NOT EXISTS dumps_by_host ON dumps(host);"
        "CREATE INDEX IF NOT EXISTS dumps_by_received ON dumps(received);"
        /* New dumps by host, for max_dumps_per_host; not touched by
         * retention, and only the last day of them is kept. */
        "CREATE TABLE IF NOT EXISTS admissions(key_name TEXT, host TEXT, time INTEGER);"
        "CREATE INDEX IF NOT EXISTS admissions_by_host ON admissions(key_name, host, time);";

#define COLUMNS "id, host, ip, key_name, dump_id, dir, release, machine, reason, signature, crash_time, received, finished, size, status"

static int errno_of(int rc) {
        switch (rc & 0xff) {
        case SQLITE_OK: case SQLITE_DONE: case SQLITE_ROW: return 0;
        case SQLITE_BUSY: case SQLITE_LOCKED: return -EBUSY;
        case SQLITE_NOMEM: return -ENOMEM;
        case SQLITE_CONSTRAINT: return -EEXIST;
        case SQLITE_CANTOPEN: return -EACCES;
        case SQLITE_READONLY: case SQLITE_PERM: case SQLITE_AUTH: return -EACCES;
        case SQLITE_FULL: return -ENOSPC;
        default: return -EIO;
        }
}

static void stmt_finalize(sqlite3_stmt **s) {
        sqlite3_finalize(*s);
}
#define _cleanup_stmt_ _cleanup_(stmt_finalize)

static int prepare(struct dump_index *idx, const char *sql, sqlite3_stmt **ret) {
        return errno_of(sqlite3_prepare_v2(idx->db, sql, -1, ret, NULL));
}

static int exec(struct dump_index *idx, const char *sql) {
        return errno_of(sqlite3_exec(idx->db, sql, NULL, NULL, NULL));
}

int dump_index_open(const char *path, struct dump_index **ret) {
        struct dump_index *idx = calloc(1, sizeof(*idx));
        sqlite3_stmt *s = NULL;
        int e, version = 0;

        if (!idx)
                return -ENOMEM;
        e = errno_of(sqlite3_open_v2(path, &idx->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL));
        if (e == 0)
                sqlite3_busy_timeout(idx->db, 5000);
        if (e == 0 && prepare(idx, "PRAGMA user_version", &s) == 0 && sqlite3_step(s) == SQLITE_ROW)
                version = sqlite3_column_int(s, 0);
        sqlite3_finalize(s);
        if (e == 0 && version > SCHEMA_VERSION)
                e = -EPROTO;
        if (e == 0)
                e = exec(idx, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL;");
        if (e == 0)
                e = exec(idx, schema);
        if (e == 0)
                e = exec(idx, "PRAGMA user_version = 1");
        if (e < 0) {
                dump_index_free(idx);
                return e;
        }
        *ret = idx;
        return 0;
}

struct dump_index *dump_index_free(struct dump_index *idx) {
        if (!idx)
                return NULL;
        sqlite3_close(idx->db);
        free(idx);
        return NULL;
}

static void copy_text(char *dst, size_t size, sqlite3_stmt *s, int col) {
        const unsigned char *t = sqlite3_column_text(s, col);
        size_t n = t ? (size_t)sqlite3_column_bytes(s, col) : 0;

        if (n >= size)
                n = size - 1;
        if (n)
                memcpy(dst, t, n);
        dst[n] = '\0';
}

static void read_row(sqlite3_stmt *s, struct dump_record *r) {
        memset(r, 0, sizeof(*r));
        r->id = sqlite3_column_int64(s, 0);
        copy_text(r->host, sizeof(r->host), s, 1);
        copy_text(r->ip, sizeof(r->ip), s, 2);
        copy_text(r->key_name, sizeof(r->key_name), s, 3);
        copy_text(r->dump_id, sizeof(r->dump_id), s, 4);
        copy_text(r->dir, sizeof(r->dir), s, 5);
        copy_text(r->release, sizeof(r->release), s, 6);
        copy_text(r->machine, sizeof(r->machine), s, 7);
        copy_text(r->reason, sizeof(r->reason), s, 8);
        copy_text(r->signature, sizeof(r->signature), s, 9);
        r->crash_time = sqlite3_column_int64(s, 10);
        r->received = sqlite3_column_int64(s, 11);
        r->finished = sqlite3_column_int64(s, 12);
        r->size = sqlite3_column_int64(s, 13);
        copy_text(r->status, sizeof(r->status), s, 14);
}

/* Binds the record's fields as ?1..?14 in COLUMNS order, id excluded. */
static void bind_record(sqlite3_stmt *s, const struct dump_record *r) {
        const char *texts[] = { r->host, r->ip, r->key_name, r->dump_id, r->dir, r->release, r->machine, r->reason,
                                r->signature };
        for (int i = 0; i < 9; i++)
                sqlite3_bind_text(s, i + 1, texts[i], -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 10, r->crash_time);
        sqlite3_bind_int64(s, 11, r->received);
        sqlite3_bind_int64(s, 12, r->finished);
        sqlite3_bind_int64(s, 13, r->size);
        sqlite3_bind_text(s, 14, r->status, -1, SQLITE_TRANSIENT);
}

int dump_index_add(struct dump_index *idx, struct dump_record *r) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL, *h = NULL;
        int e = prepare(idx, "INSERT INTO dumps(host, ip, key_name, dump_id, dir, release, machine, reason, signature,"
                             " crash_time, received, finished, size, status) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)", &s);

        if (e < 0)
                return e;
        bind_record(s, r);
        e = errno_of(sqlite3_step(s));
        if (e < 0)
                return e;
        r->id = sqlite3_last_insert_rowid(idx->db);
        e = prepare(idx, "INSERT INTO hosts(name, first_seen, last_seen, dumps) VALUES(?1, ?2, ?2, 1)"
                         " ON CONFLICT(name) DO UPDATE SET last_seen = ?2, dumps = dumps + 1", &h);
        if (e < 0)
                return e;
        sqlite3_bind_text(h, 1, r->host, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(h, 2, r->received);
        return errno_of(sqlite3_step(h));
}

/* A dump counts towards its signature once, when it has ended. */
static int count_signature(struct dump_index *idx, const struct dump_record *r) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL, *u = NULL;
        int e = prepare(idx, "INSERT INTO signatures(hash, reason, first_seen, last_seen, count, hosts)"
                             " VALUES(?1, ?2, ?3, ?3, 1, 1) ON CONFLICT(hash) DO UPDATE SET last_seen = max(last_seen, ?3),"
                             " count = count + 1, hosts = (SELECT count(DISTINCT host) FROM dumps WHERE signature = ?1)", &s);

        if (e < 0)
                return e;
        sqlite3_bind_text(s, 1, r->signature, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, r->reason, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 3, r->crash_time ? r->crash_time : r->received);
        if ((e = errno_of(sqlite3_step(s))) < 0)
                return e;
        if ((e = prepare(idx, "UPDATE dumps SET counted = 1 WHERE id = ?1", &u)) < 0)
                return e;
        sqlite3_bind_int64(u, 1, r->id);
        return errno_of(sqlite3_step(u));
}

int dump_index_update(struct dump_index *idx, const struct dump_record *r) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL;
        int e = prepare(idx, "UPDATE dumps SET host=?1, ip=?2, key_name=?3, dump_id=?4, dir=?5, release=?6, machine=?7,"
                             " reason=?8, signature=?9, crash_time=?10, received=?11, finished=?12, size=?13, status=?14"
                             " WHERE id=?15 RETURNING counted", &s);
        bool counted;

        if (e < 0)
                return e;
        bind_record(s, r);
        sqlite3_bind_int64(s, 15, r->id);
        e = sqlite3_step(s);
        if (e == SQLITE_DONE)
                return -ENOENT;
        if (e != SQLITE_ROW)
                return errno_of(e);
        counted = sqlite3_column_int(s, 0) != 0;
        sqlite3_finalize(s);
        s = NULL;
        if (!counted && r->signature[0] && strcmp(r->status, "receiving") != 0)
                return count_signature(idx, r);
        return 0;
}

static int get_one(struct dump_index *idx, sqlite3_stmt *s, struct dump_record *ret) {
        int e = sqlite3_step(s);

        (void)idx;
        if (e == SQLITE_ROW) {
                read_row(s, ret);
                return 0;
        }
        return e == SQLITE_DONE ? -ENOENT : errno_of(e);
}

int dump_index_get(struct dump_index *idx, int64_t id, struct dump_record *ret) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL;
        int e = prepare(idx, "SELECT " COLUMNS " FROM dumps WHERE id = ?1", &s);

        if (e < 0)
                return e;
        sqlite3_bind_int64(s, 1, id);
        return get_one(idx, s, ret);
}

int dump_index_find_dump_id(struct dump_index *idx, const char *key_name, const char *dump_id, struct dump_record *ret) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL;
        int e = prepare(idx, "SELECT " COLUMNS " FROM dumps WHERE key_name = ?1 AND dump_id = ?2 ORDER BY id DESC LIMIT 1", &s);

        if (e < 0)
                return e;
        sqlite3_bind_text(s, 1, key_name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, dump_id, -1, SQLITE_TRANSIENT);
        return get_one(idx, s, ret);
}

int dump_index_admission(struct dump_index *idx, const char *key_name, const char *host, int64_t time) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL, *old = NULL;
        int e = prepare(idx, "INSERT INTO admissions(key_name, host, time) VALUES (?1, ?2, ?3)", &s);

        if (e < 0)
                return e;
        sqlite3_bind_text(s, 1, key_name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, host, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 3, time);
        e = errno_of(sqlite3_step(s));
        if (e < 0 || (e = prepare(idx, "DELETE FROM admissions WHERE time < ?1", &old)) < 0)
                return e;
        sqlite3_bind_int64(old, 1, time - DUMP_INDEX_ADMISSIONS_KEPT);
        return errno_of(sqlite3_step(old));
}

int dump_index_count_recent(struct dump_index *idx, const char *key_name, const char *host, int64_t since,
                            int64_t *ret_count) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL;
        int e = prepare(idx, "SELECT count(*) FROM admissions WHERE key_name = ?1 AND host = ?2 AND time >= ?3", &s);

        if (e < 0)
                return e;
        sqlite3_bind_text(s, 1, key_name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, host, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 3, since);
        if (sqlite3_step(s) != SQLITE_ROW)
                return -EIO;
        *ret_count = sqlite3_column_int64(s, 0);
        return 0;
}

int dump_index_find_dir(struct dump_index *idx, const char *dir, struct dump_record *ret) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL;
        int e = prepare(idx, "SELECT " COLUMNS " FROM dumps WHERE dir = ?1", &s);

        if (e < 0)
                return e;
        sqlite3_bind_text(s, 1, dir, -1, SQLITE_TRANSIENT);
        return get_one(idx, s, ret);
}

int dump_index_remove(struct dump_index *idx, int64_t id) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL;
        int e = prepare(idx, "DELETE FROM dumps WHERE id = ?1", &s);

        if (e < 0)
                return e;
        sqlite3_bind_int64(s, 1, id);
        return errno_of(sqlite3_step(s));
}

int dump_index_foreach(struct dump_index *idx, const char *host, int64_t since,
                       int (*fn)(const struct dump_record *r, void *userdata), void *userdata) {
        _cleanup_stmt_ sqlite3_stmt *s = NULL;
        struct dump_record r;
        int e = prepare(idx, "SELECT " COLUMNS " FROM dumps WHERE (?1 IS NULL OR host = ?1) AND received >= ?2"
                             " ORDER BY received, id", &s);

        if (e < 0)
                return e;
        if (host)
                sqlite3_bind_text(s, 1, host, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 2, since);
        while ((e = sqlite3_step(s)) == SQLITE_ROW) {
                int r2;
                read_row(s, &r);
                r2 = fn(&r, userdata);
                if (r2 < 0)
                        return r2;
        }
        return errno_of(e);
}

int dump_index_stats(struct dump_index *idx, const char *by,
                     int (*fn)(const struct dump_index_count *c, void *userdata), void *userdata) {
        static const struct {
                const char *by, *sql;
        } queries[] = {
                { "signature", "SELECT signature, count(*), count(DISTINCT host), min(received), max(received), max(reason)"
                               " FROM dumps WHERE signature != '' GROUP BY signature ORDER BY count(*) DESC, signature" },
                { "release", "SELECT release, count(*), count(DISTINCT host), min(received), max(received), ''"
                             " FROM dumps WHERE release != '' GROUP BY release ORDER BY count(*) DESC, release" },
                { "host", "SELECT host, count(*), count(DISTINCT host), min(received), max(received), ''"
                          " FROM dumps WHERE host != '' GROUP BY host ORDER BY count(*) DESC, host" },
        };
        _cleanup_stmt_ sqlite3_stmt *s = NULL;
        struct dump_index_count c;
        int e = -EINVAL;

        for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++)
                if (strcmp(by, queries[i].by) == 0)
                        e = prepare(idx, queries[i].sql, &s);
        if (e < 0)
                return e;
        while ((e = sqlite3_step(s)) == SQLITE_ROW) {
                int r;
                memset(&c, 0, sizeof(c));
                copy_text(c.key, sizeof(c.key), s, 0);
                c.count = sqlite3_column_int64(s, 1);
                c.hosts = sqlite3_column_int64(s, 2);
                c.first_seen = sqlite3_column_int64(s, 3);
                c.last_seen = sqlite3_column_int64(s, 4);
                copy_text(c.example, sizeof(c.example), s, 5);
                if ((r = fn(&c, userdata)) < 0)
                        return r;
        }
        return errno_of(e);
}
