/* KDKP/1, the UDP dump protocol between dumptool and kdumpd (docs/protocol.md):
 * the packet header, the key schedule, the handshake MACs, sealing and opening
 * session packets, the replay window, and each message body. Everything here
 * is pure: it builds and checks bytes and never touches a socket. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KDKP_PORT 6666
#define KDKP_VERSION 1
#define KDKP_HDR 32u
#define KDKP_TAG 16u
#define KDKP_SEG (1u << 20)
#define KDKP_MIN_DGRAM 1232u
#define KDKP_BASE_DGRAM 1472u /* IPv4 at MTU 1500 */
/* The v1 ceiling: the largest IPv4 UDP payload (65535 less 20 + 8). Only a
 * path of MTU 65536, loopback, reaches it; there it is a quarter of the
 * packets, ACKs and AEAD calls of 16384 (the ceiling until session 7), and
 * the lab's 6.1 2 GiB dump crossed in 155 ms instead of 161 (median of 15).
 * kdumpd agrees to its max_datagram, 16384 unless set (server/config.h). */
#define KDKP_MAX_DGRAM 65507u
#define KDKP_DATA_OVERHEAD (KDKP_HDR + 8u + KDKP_TAG)
#define KDKP_REPLAY_WINDOW 1024u
#define KDKP_COOKIE_LIFETIME 30
#define KDKP_KEY_BYTES 32u
#define KDKP_SACK_MAX 32u
#define KDKP_TEXT_MAX 200u

enum kdkp_type {
        KDKP_HELLO = 0x01,
        KDKP_CHALLENGE = 0x02,
        KDKP_INIT = 0x03,
        KDKP_ACCEPT = 0x04,
        KDKP_ERROR = 0x05,
        KDKP_DATA = 0x10,
        KDKP_ACK = 0x11,
        KDKP_PING = 0x12,
        KDKP_PONG = 0x13,
        KDKP_FIN = 0x14,
        KDKP_RESULT = 0x15,
};

enum {
        KDKP_FLAG_PROBE = 0x0001,
        KDKP_FLAG_RETX = 0x0002,
        KDKP_FLAG_ACK_NOW = 0x0004,
        KDKP_FLAG_UNAUTH = 0x0008,
};

enum kdkp_error_code {
        KDKP_E_VERSION = 1,
        KDKP_E_BAD_KEY = 2,
        KDKP_E_TOO_MANY_SESSIONS = 3,
        KDKP_E_RATE_LIMIT = 4,
        KDKP_E_DUMP_TOO_LARGE = 5,
        KDKP_E_DISK_FULL = 6,
        KDKP_E_PROTOCOL = 7,
        KDKP_E_HASH_MISMATCH = 8,
        KDKP_E_SUPERSEDED = 9,
        KDKP_E_IDLE_TIMEOUT = 10,
        KDKP_E_SHUTDOWN = 11,
        KDKP_E_INTERNAL = 12,
        KDKP_E_STREAM_LOST = 13,
        KDKP_E_ABORT = 14,
};
#define KDKP_ERROR_FATAL 0x1

/* Header features (§3.1): datagrams above the base size, after a probe (§6.7). */
#define KDKP_FEATURE_LARGE_FRAMES 0x0001u
#define KDKP_FEATURES_KNOWN KDKP_FEATURE_LARGE_FRAMES

/* The code's name as the spec writes it ("DISK_FULL"), "UNKNOWN" if none. */
const char *kdkp_error_name(unsigned code);

struct kdkp_header {
        uint8_t type;
        uint16_t hdr_size, flags, features;
        uint64_t session_id, pn;
};

/* Parses the fixed header of a datagram. Returns 0, or -EBADMSG for a bad
 * magic, a datagram too short for a header and tag, or a hdr_size below 32
 * or past the datagram; -EPROTONOSUPPORT for another version. */
int kdkp_header_parse(const uint8_t *buf, size_t len, struct kdkp_header *ret);
/* Writes the 32-byte header. */
void kdkp_header_put(uint8_t out[KDKP_HDR], const struct kdkp_header *h);

/* Keys derived from the pre-shared key. */
struct kdkp_psk {
        uint8_t key_id[8];
        uint8_t mac_key[32];
        uint8_t hs_key[32];
        uint8_t stream_key[32]; /* K_stream: the stream digest's (§5.3) */
};

/* Parses a key file's text: exactly 64 hex digits and at most one '\n'.
 * Returns 0 with the 32 bytes, or -EINVAL. */
int kdkp_key_parse(const char *text, size_t len, uint8_t ret[KDKP_KEY_BYTES]);
/* Derives key_id, K_mac, K_hs and K_stream. */
void kdkp_psk_init(struct kdkp_psk *p, const uint8_t psk[KDKP_KEY_BYTES]);
/* key_id as 16 hex digits and a NUL. */
void kdkp_key_id_hex(const uint8_t key_id[8], char out[17]);

struct kdkp_session_keys {
        uint8_t c2s[32], s2c[32];
        uint64_t session_id;
};
/* master from K_hs, key_id, Rc and Rs; then the per-direction keys and the
 * session id (0 means: draw another Rc). */
void kdkp_session_keys(const struct kdkp_psk *p, const uint8_t rc[32], const uint8_t rs[32],
                       struct kdkp_session_keys *ret);

/* The handshake. Each build function returns the datagram's length. */
struct kdkp_hello {
        uint8_t key_id[8], rc[32];
        uint16_t max_datagram;
        uint16_t features;      /* the header's: what the client supports */
};
size_t kdkp_hello_build(uint8_t *out, size_t size, const struct kdkp_psk *p, const struct kdkp_hello *m);
/* Parses a HELLO's body without checking its MAC (the key_id picks the key). */
int kdkp_hello_parse(const uint8_t *buf, size_t len, struct kdkp_hello *ret);
/* Checks the HELLO's MAC under p. Returns 0 or -EBADMSG. */
int kdkp_hello_verify(const uint8_t *buf, size_t len, const struct kdkp_psk *p);

struct kdkp_challenge {
        uint8_t rs[32];
        uint32_t cookie_time;
        uint8_t cookie[16];
        uint16_t base_datagram, max_datagram;
        uint16_t features;      /* the header's: the agreed set */
};
size_t kdkp_challenge_build(uint8_t *out, const struct kdkp_psk *p, const uint8_t rc[32], const struct kdkp_challenge *m);
/* Parses and checks a CHALLENGE against the client's Rc. 0 or -EBADMSG. */
int kdkp_challenge_parse(const uint8_t *buf, size_t len, const struct kdkp_psk *p, const uint8_t rc[32],
                         struct kdkp_challenge *ret);

/* The server's stateless cookie over the client's address (16 bytes, IPv4
 * mapped) and port, key_id, Rc and Rs. */
void kdkp_cookie(uint8_t out[16], const uint8_t secret[32], uint32_t cookie_time, const uint8_t addr[16],
                 uint16_t port, const uint8_t key_id[8], const uint8_t rc[32], const uint8_t rs[32]);

#define KDKP_INIT_CLEAR 92u
#define KDKP_INIT_BODY 208u
struct kdkp_init {
        uint16_t features;      /* the header's: the agreed set */
        uint8_t key_id[8], rc[32], rs[32];
        uint32_t cookie_time;
        uint8_t cookie[16];
        /* sealed */
        uint8_t dump_id[16];
        uint64_t crash_time, size_hint;
        uint32_t resume_buffer;
        uint16_t stream_format;
        char hostname[65], release[65], machine[17], tool[25];
};
size_t kdkp_init_build(uint8_t *out, const struct kdkp_session_keys *k, const struct kdkp_init *m);
/* Parses INIT's clear part only, so that the server can check the cookie
 * and derive the keys before it opens anything. */
int kdkp_init_parse_clear(const uint8_t *buf, size_t len, struct kdkp_init *ret);
/* Opens the sealed body with the session's c2s key. 0 or -EBADMSG. */
int kdkp_init_open(const uint8_t *buf, size_t len, const struct kdkp_session_keys *k, struct kdkp_init *ret);

/* Sealing session packets: header ‖ ChaCha20-Poly1305(body) ‖ tag, nonce
 * from pn. body may be out + KDKP_HDR: then it is sealed in place. Returns
 * the datagram's length, or 0 when it would not fit. */
size_t kdkp_seal(uint8_t *out, size_t size, const uint8_t key[32], const struct kdkp_header *h,
                 const uint8_t *body, size_t body_len);
/* Opens a session packet: the body is written to body (at least len
 * bytes), which may be buf + h->hdr_size to open it in place (a failed
 * open then leaves zeros there). Returns the body's length or -EBADMSG. */
int kdkp_open(const uint8_t *buf, size_t len, const uint8_t key[32], const struct kdkp_header *h, uint8_t *body);

/* RFC 4303's anti-replay window over packet numbers, as a ring of 64-bit
 * words (RFC 6479). The word holding largest is partly ahead of it, so the
 * ring has one word more than the window: with only 1024 bits, the oldest
 * word still inside the window would share a slot with largest's word and
 * be cleared when largest enters it, and its pns would open a second time. */
#define KDKP_REPLAY_WORDS (KDKP_REPLAY_WINDOW / 64 + 1)
struct kdkp_replay {
        uint64_t largest;
        bool any;
        uint64_t bits[KDKP_REPLAY_WORDS];
};
/* Whether pn may still be opened (not too old, not seen). */
bool kdkp_replay_check(const struct kdkp_replay *w, uint64_t pn);
/* Records pn as seen; call only after it authenticated. */
void kdkp_replay_update(struct kdkp_replay *w, uint64_t pn);

/* Session message bodies, decoded. Each parse function takes the opened
 * body and its exact length, and returns 0 or -EBADMSG. */
struct kdkp_accept {
        uint16_t dump_status, code;
        uint32_t retry_after_ms;
        uint64_t resume_offset;
        uint8_t resume_chain[32];
        uint64_t max_offset, max_dump_bytes;
        uint32_t max_meta_bytes, rate_cap, max_ack_delay_us;
        uint16_t max_datagram, idle_timeout_s;
        char dir[65];
};
#define KDKP_ACCEPT_BODY 144u
enum { KDKP_ADMITTED = 0, KDKP_DEFERRED = 1, KDKP_REFUSED = 2, KDKP_COMPLETE = 3 };
size_t kdkp_accept_put(uint8_t *out, const struct kdkp_accept *m);
int kdkp_accept_parse(const uint8_t *b, size_t len, struct kdkp_accept *ret);

struct kdkp_range {
        uint64_t start, end;
};
struct kdkp_ack {
        uint64_t recv_offset, commit_offset, max_offset, largest_pn;
        uint32_t ack_delay_us, rate_cap;
        uint16_t nranges;
        struct kdkp_range ranges[KDKP_SACK_MAX];
};
size_t kdkp_ack_put(uint8_t *out, const struct kdkp_ack *m);
int kdkp_ack_parse(const uint8_t *b, size_t len, struct kdkp_ack *ret);

struct kdkp_fin {
        uint64_t length;
        uint16_t flags;
        uint8_t digest[32];
        uint64_t bytes_sent, bytes_retransmitted;
        uint32_t elapsed_ms;
};
#define KDKP_FIN_BODY 72u
#define KDKP_FIN_PAUSE 0x1u /* the session ends after the file sections (§7.1) */
size_t kdkp_fin_put(uint8_t *out, const struct kdkp_fin *m);
int kdkp_fin_parse(const uint8_t *b, size_t len, struct kdkp_fin *ret);

struct kdkp_result {
        uint16_t status, code;
        uint32_t retry_after_ms;
        uint64_t stored_length;
        uint8_t digest[32];
        char dir[65];
};
#define KDKP_RESULT_BODY 112u
enum { KDKP_STORED = 0, KDKP_RESULT_DEFERRED = 1, KDKP_META_ONLY = 2, KDKP_FAILED = 3 };
size_t kdkp_result_put(uint8_t *out, const struct kdkp_result *m);
int kdkp_result_parse(const uint8_t *b, size_t len, struct kdkp_result *ret);

struct kdkp_error {
        uint16_t code, flags;
        uint32_t retry_after_ms;
        uint8_t rc[32];
        char text[KDKP_TEXT_MAX + 1]; /* non-printable bytes made '?' */
};
size_t kdkp_error_put(uint8_t *out, const struct kdkp_error *m);
int kdkp_error_parse(const uint8_t *b, size_t len, struct kdkp_error *ret);
/* A pre-session ERROR (UNAUTH): header, body, 16 zero bytes. */
size_t kdkp_error_build_unauth(uint8_t *out, size_t size, const struct kdkp_error *m);

struct kdkp_ping {
        uint64_t token;
};
/* A PING's body padded to fill a datagram of size bytes (a PROBE, §6.6).
 * Returns the body's length (size - header - tag), or 0 if size is out of
 * range. */
size_t kdkp_ping_put(uint8_t *out, size_t size, const struct kdkp_ping *m);
struct kdkp_pong {
        uint64_t token, ping_pn;
        uint16_t ping_size;
};
#define KDKP_PING_BODY 8u
#define KDKP_PONG_BODY 24u
size_t kdkp_pong_put(uint8_t *out, const struct kdkp_pong *m);
int kdkp_pong_parse(const uint8_t *b, size_t len, struct kdkp_pong *ret);
/* DATA: an 8-byte offset, then the payload. */
int kdkp_data_parse(const uint8_t *b, size_t len, uint64_t *ret_offset, const uint8_t **ret_payload,
                    size_t *ret_len);

/* Stream sections (§5.1). */
enum { KDKP_SECTION_CRASH_JSON = 1, KDKP_SECTION_LOG = 2, KDKP_SECTION_DUMP = 3 };
#define KDKP_SECTION_HDR 16u
#define KDKP_SECTION_TO_END UINT64_MAX
#define KDKP_SECTION_TRUNCATED 0x2
void kdkp_section_put(uint8_t out[KDKP_SECTION_HDR], uint16_t type, uint16_t flags, uint64_t length);
