/* The receiving end of a KDKP/1 stream (docs/protocol.md §5): its sections
 * (crash.json, vmcore-dmesg.txt, the dump) and, inside the dump section,
 * makedumpfile's flattened records, parsed as bytes arrive in order. The
 * parser's state is plain data, so kdumpd can snapshot it at a segment
 * boundary, persist it, and resume parsing from there after a restart. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t by value, in the chain */
#include <xxhash.h>

enum kdkp_parse_state {
        KDKP_PARSE_SECTION = 0, /* collecting a section header */
        KDKP_PARSE_FILE = 1,    /* inside a file section's body */
        KDKP_PARSE_FLAT = 2,    /* inside the flattened stream's 4096-byte header */
        KDKP_PARSE_RECORD = 3,  /* collecting a record header */
        KDKP_PARSE_PAYLOAD = 4, /* inside a record's payload */
        KDKP_PARSE_END = 5,     /* after the end record: any byte is an error */
};

/* Plain data, no pointers: copied as it is into the server's state file. */
struct kdkp_parser {
        uint64_t offset;         /* stream bytes consumed */
        uint64_t remaining;      /* bytes left of the file body, flattened header or payload */
        uint64_t dest;           /* where the payload's next byte goes in the vmcore */
        uint64_t end_offset;     /* one past the highest vmcore byte written */
        uint64_t payload_bytes;  /* record payload so far, all records */
        uint64_t meta_bytes;     /* file-section bytes so far */
        uint64_t file_offset;    /* offset inside the current file section */
        uint32_t state, section, section_flags, got, seen;
        uint8_t hdr[32];         /* header bytes collected so far */
};

struct kdkp_limits {
        uint64_t max_dump_bytes; /* the vmcore's end offset */
        uint64_t max_meta_bytes; /* all file sections together */
};

struct kdkp_sink {
        /* len bytes of file section `section` (1 crash.json, 2 log) at off. */
        int (*file)(void *userdata, unsigned section, const uint8_t *buf, size_t len, uint64_t off);
        /* a file section is complete */
        int (*file_done)(void *userdata, unsigned section, uint32_t flags);
        /* len bytes of the vmcore at off */
        int (*dump)(void *userdata, const uint8_t *buf, size_t len, uint64_t off);
        void *userdata;
};

/* Starts a parser at stream offset 0. */
void kdkp_parser_init(struct kdkp_parser *p);

/* Feeds the next len bytes of the stream. Returns 0; -EBADMSG (a malformed
 * section, flattened header or record, or bytes after the end record),
 * -EFBIG (past a limit), each with why; or a sink's negative errno. */
int kdkp_parser_feed(struct kdkp_parser *p, const uint8_t *buf, size_t len, const struct kdkp_limits *lim,
                     const struct kdkp_sink *sink, char *why, size_t why_len);

/* Whether the stream ended properly, on the flattened end record. */
bool kdkp_parser_done(const struct kdkp_parser *p);

/* The stream digest of §5.3 (v3): each 1 MiB segment's XXH3-128, chained by
 * BLAKE2b under a key of the segment's own derived from the dump's
 * (K_stream and dump_id), so that hashing can resume from one stored value.
 * Both ends hash every byte: XXH3 takes 0.05 ns a byte here, Poly1305 (v2's
 * segment hash) 0.23, a fifth of the sender's and an eighth of kdumpd's
 * CPU on loopback. */
#define KDKP_CHAIN_TAG 16u     /* the bytes of a chain value that carry the tag */
struct kdkp_chain {
        /* The open segment's XXH3_state_t, when offset % SEG != 0, at the
         * first 64-byte boundary inside: the type asks for that alignment,
         * which neither calloc'd sessions nor the stack promise. */
        uint8_t state[sizeof(XXH3_state_t) + 64];
        uint8_t master[32];             /* the dump's chain key */
        uint8_t h[32];                  /* h[i] for the last completed segment: a tag, then 16 zeros */
        uint64_t offset;                /* stream bytes hashed */
};
/* stream_key is K_stream (struct kdkp_psk). */
void kdkp_chain_init(struct kdkp_chain *c, const uint8_t stream_key[32], const uint8_t dump_id[16]);
/* Resumes, after init, at a segment boundary offset with its chain value. */
void kdkp_chain_resume(struct kdkp_chain *c, uint64_t offset, const uint8_t h[32]);
/* Forgets the keys. */
void kdkp_chain_done(struct kdkp_chain *c);
/* Hashes len more bytes. When the data crosses a segment boundary the
 * caller wants to know of, it feeds up to the boundary first. */
void kdkp_chain_update(struct kdkp_chain *c, const uint8_t *buf, size_t len);
/* D = BLAKE2b-256(h[n] ‖ u64 L, key = the dump's chain key); c is left
 * unusable. */
void kdkp_chain_final(struct kdkp_chain *c, uint8_t digest[32]);
