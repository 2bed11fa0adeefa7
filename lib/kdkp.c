/* KDKP/1 packets: layouts and crypto exactly as docs/protocol.md gives them. */
#include <assert.h>
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "kdkp.h"
#include "unaligned.h"

static const uint8_t magic[4] = { 'K', 'D', 'K', 'P' };

const char *kdkp_error_name(unsigned code) {
        static const char *const names[] = {
                [KDKP_E_VERSION] = "VERSION",
                [KDKP_E_BAD_KEY] = "BAD_KEY",
                [KDKP_E_TOO_MANY_SESSIONS] = "TOO_MANY_SESSIONS",
                [KDKP_E_RATE_LIMIT] = "RATE_LIMIT",
                [KDKP_E_DUMP_TOO_LARGE] = "DUMP_TOO_LARGE",
                [KDKP_E_DISK_FULL] = "DISK_FULL",
                [KDKP_E_PROTOCOL] = "PROTOCOL",
                [KDKP_E_HASH_MISMATCH] = "HASH_MISMATCH",
                [KDKP_E_SUPERSEDED] = "SUPERSEDED",
                [KDKP_E_IDLE_TIMEOUT] = "IDLE_TIMEOUT",
                [KDKP_E_SHUTDOWN] = "SHUTDOWN",
                [KDKP_E_INTERNAL] = "INTERNAL",
                [KDKP_E_STREAM_LOST] = "STREAM_LOST",
                [KDKP_E_ABORT] = "ABORT",
        };
        return code < sizeof(names) / sizeof(names[0]) && names[code] ? names[code] : "UNKNOWN";
}

int kdkp_header_parse(const uint8_t *buf, size_t len, struct kdkp_header *ret) {
        struct kdkp_header h;

        if (len < KDKP_HDR + KDKP_TAG || memcmp(buf, magic, 4) != 0)
                return -EBADMSG;
        if (buf[4] != KDKP_VERSION)
                return -EPROTONOSUPPORT;
        h.type = buf[5];
        h.hdr_size = le16(buf + 6);
        h.flags = le16(buf + 8);
        h.features = le16(buf + 10);
        h.session_id = le64(buf + 16);
        h.pn = le64(buf + 24);
        if (h.hdr_size < KDKP_HDR || (size_t)h.hdr_size + KDKP_TAG > len)
                return -EBADMSG;
        *ret = h;
        return 0;
}

void kdkp_header_put(uint8_t out[KDKP_HDR], const struct kdkp_header *h) {
        memcpy(out, magic, 4);
        out[4] = KDKP_VERSION;
        out[5] = h->type;
        put_le16(out + 6, KDKP_HDR);
        put_le16(out + 8, h->flags);
        put_le16(out + 10, h->features);
        put_le32(out + 12, 0);
        put_le64(out + 16, h->session_id);
        put_le64(out + 24, h->pn);
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c |= 0x20;
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int kdkp_key_parse(const char *text, size_t len, uint8_t ret[KDKP_KEY_BYTES]) {
        uint8_t key[KDKP_KEY_BYTES];

        if (len == 2 * KDKP_KEY_BYTES + 1 && text[len - 1] == '\n')
                len--;
        if (len != 2 * KDKP_KEY_BYTES)
                return -EINVAL;
        for (size_t i = 0; i < KDKP_KEY_BYTES; i++) {
                int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                key[i] = (uint8_t)(hi << 4 | lo);
        }
        memcpy(ret, key, sizeof(key));
        sodium_memzero(key, sizeof(key));
        return 0;
}

void kdkp_psk_init(struct kdkp_psk *p, const uint8_t psk[KDKP_KEY_BYTES]) {
        uint8_t id[16];

        crypto_kdf_derive_from_key(id, sizeof(id), 1, "kdkt-psk", psk);
        memcpy(p->key_id, id, 8);
        crypto_kdf_derive_from_key(p->mac_key, 32, 2, "kdkt-psk", psk);
        crypto_kdf_derive_from_key(p->hs_key, 32, 3, "kdkt-psk", psk);
        crypto_kdf_derive_from_key(p->stream_key, 32, 4, "kdkt-psk", psk);
}

void kdkp_key_id_hex(const uint8_t key_id[8], char out[17]) {
        sodium_bin2hex(out, 17, key_id, 8);
}

void kdkp_session_keys(const struct kdkp_psk *p, const uint8_t rc[32], const uint8_t rs[32],
                       struct kdkp_session_keys *ret) {
        static const char label[] = "kdumpkit/1 session";
        crypto_generichash_state st;
        uint8_t master[32], id[16];

        static_assert(sizeof(label) - 1 == 18, "the label is 18 bytes on the wire");
        crypto_generichash_init(&st, p->hs_key, 32, 32);
        crypto_generichash_update(&st, (const uint8_t *)label, sizeof(label) - 1);
        crypto_generichash_update(&st, p->key_id, 8);
        crypto_generichash_update(&st, rc, 32);
        crypto_generichash_update(&st, rs, 32);
        crypto_generichash_final(&st, master, 32);
        crypto_kdf_derive_from_key(ret->c2s, 32, 1, "kdkt-ses", master);
        crypto_kdf_derive_from_key(ret->s2c, 32, 2, "kdkt-ses", master);
        crypto_kdf_derive_from_key(id, sizeof(id), 3, "kdkt-ses", master);
        ret->session_id = le64(id);
        sodium_memzero(master, sizeof(master));
}

/* mac16 of up to three parts under a 32-byte key (keyed BLAKE2b-128). */
static void mac16(uint8_t out[16], const uint8_t key[32], const uint8_t *a, size_t alen, const uint8_t *b,
                  size_t blen) {
        crypto_generichash_state st;

        crypto_generichash_init(&st, key, 32, 16);
        crypto_generichash_update(&st, a, alen);
        if (b)
                crypto_generichash_update(&st, b, blen);
        crypto_generichash_final(&st, out, 16);
}

#define HELLO_BODY 48u

size_t kdkp_hello_build(uint8_t *out, size_t size, const struct kdkp_psk *p, const struct kdkp_hello *m) {
        struct kdkp_header h = { .type = KDKP_HELLO, .features = m->features };

        if (size < KDKP_MIN_DGRAM || size > KDKP_MAX_DGRAM)
                return 0;
        memset(out, 0, size);
        kdkp_header_put(out, &h);
        memcpy(out + KDKP_HDR, m->key_id, 8);
        memcpy(out + KDKP_HDR + 8, m->rc, 32);
        put_le16(out + KDKP_HDR + 40, m->max_datagram);
        mac16(out + size - KDKP_TAG, p->mac_key, out, size - KDKP_TAG, NULL, 0);
        return size;
}

int kdkp_hello_parse(const uint8_t *buf, size_t len, struct kdkp_hello *ret) {
        struct kdkp_header h;
        const uint8_t *b;

        /* A HELLO below the smallest datagram could draw a larger reply. */
        if (len < KDKP_MIN_DGRAM || kdkp_header_parse(buf, len, &h) < 0 || h.type != KDKP_HELLO ||
            len < h.hdr_size + HELLO_BODY + KDKP_TAG)
                return -EBADMSG;
        b = buf + h.hdr_size;
        memcpy(ret->key_id, b, 8);
        memcpy(ret->rc, b + 8, 32);
        ret->max_datagram = le16(b + 40);
        ret->features = h.features;
        return 0;
}

int kdkp_hello_verify(const uint8_t *buf, size_t len, const struct kdkp_psk *p) {
        uint8_t mac[16];

        if (len < KDKP_HDR + KDKP_TAG)
                return -EBADMSG;
        mac16(mac, p->mac_key, buf, len - KDKP_TAG, NULL, 0);
        return crypto_verify_16(mac, buf + len - KDKP_TAG) == 0 ? 0 : -EBADMSG;
}

#define CHALLENGE_BODY 64u

size_t kdkp_challenge_build(uint8_t *out, const struct kdkp_psk *p, const uint8_t rc[32],
                            const struct kdkp_challenge *m) {
        struct kdkp_header h = { .type = KDKP_CHALLENGE, .features = m->features };
        uint8_t *b = out + KDKP_HDR;

        memset(out, 0, KDKP_HDR + CHALLENGE_BODY);
        kdkp_header_put(out, &h);
        memcpy(b, m->rs, 32);
        put_le32(b + 32, m->cookie_time);
        memcpy(b + 36, m->cookie, 16);
        put_le16(b + 52, m->base_datagram);
        put_le16(b + 54, m->max_datagram);
        mac16(b + CHALLENGE_BODY, p->mac_key, out, KDKP_HDR + CHALLENGE_BODY, rc, 32);
        return KDKP_HDR + CHALLENGE_BODY + KDKP_TAG;
}

int kdkp_challenge_parse(const uint8_t *buf, size_t len, const struct kdkp_psk *p, const uint8_t rc[32],
                         struct kdkp_challenge *ret) {
        struct kdkp_header h;
        uint8_t mac[16];
        const uint8_t *b;

        if (kdkp_header_parse(buf, len, &h) < 0 || h.type != KDKP_CHALLENGE ||
            len != (size_t)h.hdr_size + CHALLENGE_BODY + KDKP_TAG)
                return -EBADMSG;
        mac16(mac, p->mac_key, buf, len - KDKP_TAG, rc, 32);
        if (crypto_verify_16(mac, buf + len - KDKP_TAG) != 0)
                return -EBADMSG;
        b = buf + h.hdr_size;
        memcpy(ret->rs, b, 32);
        ret->cookie_time = le32(b + 32);
        memcpy(ret->cookie, b + 36, 16);
        ret->base_datagram = le16(b + 52);
        ret->max_datagram = le16(b + 54);
        ret->features = h.features;
        return 0;
}

void kdkp_cookie(uint8_t out[16], const uint8_t secret[32], uint32_t cookie_time, const uint8_t addr[16],
                 uint16_t port, const uint8_t key_id[8], const uint8_t rc[32], const uint8_t rs[32]) {
        uint8_t in[4 + 16 + 2 + 8 + 32 + 32];

        put_le32(in, cookie_time);
        memcpy(in + 4, addr, 16);
        put_le16(in + 20, port);
        memcpy(in + 22, key_id, 8);
        memcpy(in + 30, rc, 32);
        memcpy(in + 62, rs, 32);
        mac16(out, secret, in, sizeof(in), NULL, 0);
}

/* Copies a NUL-padded wire string into a C string of field + 1 bytes. */
static void get_str(char *dst, const uint8_t *src, size_t field) {
        size_t n = strnlen((const char *)src, field);

        memcpy(dst, src, n);
        dst[n] = '\0';
}

static void put_str(uint8_t *dst, const char *src, size_t field) {
        size_t n = strnlen(src, field);

        memset(dst, 0, field);
        memcpy(dst, src, n);
}

static void init_body_put(uint8_t *b, const struct kdkp_init *m) {
        memset(b, 0, KDKP_INIT_BODY);
        memcpy(b, m->dump_id, 16);
        put_le64(b + 16, m->crash_time);
        put_le64(b + 24, m->size_hint);
        put_le32(b + 32, m->resume_buffer);
        put_le16(b + 36, m->stream_format);
        put_str(b + 40, m->hostname, 64);
        put_str(b + 104, m->release, 64);
        put_str(b + 168, m->machine, 16);
        put_str(b + 184, m->tool, 24);
}

static void init_body_get(const uint8_t *b, struct kdkp_init *m) {
        memcpy(m->dump_id, b, 16);
        m->crash_time = le64(b + 16);
        m->size_hint = le64(b + 24);
        m->resume_buffer = le32(b + 32);
        m->stream_format = le16(b + 36);
        get_str(m->hostname, b + 40, 64);
        get_str(m->release, b + 104, 64);
        get_str(m->machine, b + 168, 16);
        get_str(m->tool, b + 184, 24);
}

size_t kdkp_init_build(uint8_t *out, const struct kdkp_session_keys *k, const struct kdkp_init *m) {
        struct kdkp_header h = { .type = KDKP_INIT, .session_id = k->session_id, .features = m->features };
        uint8_t body[KDKP_INIT_BODY], nonce[12] = { 0 };
        uint8_t *clear = out + KDKP_HDR;
        unsigned long long clen;

        kdkp_header_put(out, &h);
        memcpy(clear, m->key_id, 8);
        memcpy(clear + 8, m->rc, 32);
        memcpy(clear + 40, m->rs, 32);
        put_le32(clear + 72, m->cookie_time);
        memcpy(clear + 76, m->cookie, 16);
        init_body_put(body, m);
        crypto_aead_chacha20poly1305_ietf_encrypt(clear + KDKP_INIT_CLEAR, &clen, body, sizeof(body), out,
                                                  KDKP_HDR + KDKP_INIT_CLEAR, NULL, nonce, k->c2s);
        return KDKP_HDR + KDKP_INIT_CLEAR + (size_t)clen;
}

int kdkp_init_parse_clear(const uint8_t *buf, size_t len, struct kdkp_init *ret) {
        struct kdkp_header h;
        const uint8_t *c;

        if (kdkp_header_parse(buf, len, &h) < 0 || h.type != KDKP_INIT || h.pn != 0 ||
            len != (size_t)h.hdr_size + KDKP_INIT_CLEAR + KDKP_INIT_BODY + KDKP_TAG)
                return -EBADMSG;
        c = buf + h.hdr_size;
        ret->features = h.features;
        memcpy(ret->key_id, c, 8);
        memcpy(ret->rc, c + 8, 32);
        memcpy(ret->rs, c + 40, 32);
        ret->cookie_time = le32(c + 72);
        memcpy(ret->cookie, c + 76, 16);
        return 0;
}

int kdkp_init_open(const uint8_t *buf, size_t len, const struct kdkp_session_keys *k, struct kdkp_init *ret) {
        uint8_t body[KDKP_INIT_BODY], nonce[12] = { 0 };
        struct kdkp_header h;
        size_t ad;

        if (kdkp_init_parse_clear(buf, len, ret) < 0 || kdkp_header_parse(buf, len, &h) < 0 ||
            h.session_id != k->session_id)
                return -EBADMSG;
        ad = h.hdr_size + KDKP_INIT_CLEAR;
        if (crypto_aead_chacha20poly1305_ietf_decrypt(body, NULL, NULL, buf + ad, len - ad, buf, ad, nonce,
                                                      k->c2s) != 0)
                return -EBADMSG;
        init_body_get(body, ret);
        return 0;
}

static void nonce_of(uint8_t nonce[12], uint64_t pn) {
        memset(nonce, 0, 4);
        put_le64(nonce + 4, pn);
}

size_t kdkp_seal(uint8_t *out, size_t size, const uint8_t key[32], const struct kdkp_header *h,
                 const uint8_t *body, size_t body_len) {
        unsigned long long clen;
        uint8_t nonce[12];

        if (KDKP_HDR + body_len + KDKP_TAG > size)
                return 0;
        kdkp_header_put(out, h);
        nonce_of(nonce, h->pn);
        crypto_aead_chacha20poly1305_ietf_encrypt(out + KDKP_HDR, &clen, body, body_len, out, KDKP_HDR, NULL,
                                                  nonce, key);
        return KDKP_HDR + (size_t)clen;
}

int kdkp_open(const uint8_t *buf, size_t len, const uint8_t key[32], const struct kdkp_header *h, uint8_t *body) {
        unsigned long long blen;
        uint8_t nonce[12];

        nonce_of(nonce, h->pn);
        if (crypto_aead_chacha20poly1305_ietf_decrypt(body, &blen, NULL, buf + h->hdr_size, len - h->hdr_size, buf,
                                                      h->hdr_size, nonce, key) != 0)
                return -EBADMSG;
        return (int)blen;
}

bool kdkp_replay_check(const struct kdkp_replay *w, uint64_t pn) {
        if (!w->any || pn > w->largest)
                return true;
        if (pn + KDKP_REPLAY_WINDOW <= w->largest)
                return false;
        return !(w->bits[pn / 64 % KDKP_REPLAY_WORDS] & 1ull << (pn % 64));
}

void kdkp_replay_update(struct kdkp_replay *w, uint64_t pn) {
        const unsigned words = KDKP_REPLAY_WORDS;

        if (!w->any) {
                w->any = true;
                w->largest = pn;
        }
        /* Moving largest forward clears the words that now stand for new pns. */
        if (pn > w->largest) {
                uint64_t from = w->largest / 64 + 1, to = pn / 64;
                if (to - from + 1 >= words)
                        memset(w->bits, 0, sizeof(w->bits));
                else
                        for (uint64_t i = from; i <= to; i++)
                                w->bits[i % words] = 0;
                w->largest = pn;
        }
        w->bits[pn / 64 % words] |= 1ull << (pn % 64);
}

size_t kdkp_accept_put(uint8_t *b, const struct kdkp_accept *m) {
        memset(b, 0, KDKP_ACCEPT_BODY);
        put_le16(b, m->dump_status);
        put_le16(b + 2, m->code);
        put_le32(b + 4, m->retry_after_ms);
        put_le64(b + 8, m->resume_offset);
        memcpy(b + 16, m->resume_chain, 32);
        put_le64(b + 48, m->max_offset);
        put_le64(b + 56, m->max_dump_bytes);
        put_le32(b + 64, m->max_meta_bytes);
        put_le32(b + 68, m->rate_cap);
        put_le32(b + 72, m->max_ack_delay_us);
        put_le16(b + 76, m->max_datagram);
        put_le16(b + 78, m->idle_timeout_s);
        put_str(b + 80, m->dir, 64);
        return KDKP_ACCEPT_BODY;
}

int kdkp_accept_parse(const uint8_t *b, size_t len, struct kdkp_accept *m) {
        if (len != KDKP_ACCEPT_BODY)
                return -EBADMSG;
        m->dump_status = le16(b);
        m->code = le16(b + 2);
        m->retry_after_ms = le32(b + 4);
        m->resume_offset = le64(b + 8);
        memcpy(m->resume_chain, b + 16, 32);
        m->max_offset = le64(b + 48);
        m->max_dump_bytes = le64(b + 56);
        m->max_meta_bytes = le32(b + 64);
        m->rate_cap = le32(b + 68);
        m->max_ack_delay_us = le32(b + 72);
        m->max_datagram = le16(b + 76);
        m->idle_timeout_s = le16(b + 78);
        get_str(m->dir, b + 80, 64);
        return 0;
}

#define ACK_FIXED 48u

size_t kdkp_ack_put(uint8_t *b, const struct kdkp_ack *m) {
        unsigned n = m->nranges > KDKP_SACK_MAX ? KDKP_SACK_MAX : m->nranges;

        memset(b, 0, ACK_FIXED);
        put_le64(b, m->recv_offset);
        put_le64(b + 8, m->commit_offset);
        put_le64(b + 16, m->max_offset);
        put_le64(b + 24, m->largest_pn);
        put_le32(b + 32, m->ack_delay_us);
        put_le32(b + 36, m->rate_cap);
        put_le16(b + 40, (uint16_t)n);
        for (unsigned i = 0; i < n; i++) {
                put_le64(b + ACK_FIXED + 16 * i, m->ranges[i].start);
                put_le64(b + ACK_FIXED + 16 * i + 8, m->ranges[i].end);
        }
        return ACK_FIXED + 16 * n;
}

/* Ranges must be ascending, disjoint, non-empty and above recv_offset, and
 * commit ≤ recv: anything else is a broken peer, never acted on. */
int kdkp_ack_parse(const uint8_t *b, size_t len, struct kdkp_ack *m) {
        uint64_t floor;

        if (len < ACK_FIXED)
                return -EBADMSG;
        m->recv_offset = le64(b);
        m->commit_offset = le64(b + 8);
        m->max_offset = le64(b + 16);
        m->largest_pn = le64(b + 24);
        m->ack_delay_us = le32(b + 32);
        m->rate_cap = le32(b + 36);
        m->nranges = le16(b + 40);
        if (m->nranges > KDKP_SACK_MAX || len != ACK_FIXED + 16u * m->nranges || m->commit_offset > m->recv_offset)
                return -EBADMSG;
        floor = m->recv_offset;
        for (unsigned i = 0; i < m->nranges; i++) {
                m->ranges[i].start = le64(b + ACK_FIXED + 16 * i);
                m->ranges[i].end = le64(b + ACK_FIXED + 16 * i + 8);
                if (m->ranges[i].start <= floor || m->ranges[i].end <= m->ranges[i].start)
                        return -EBADMSG;
                floor = m->ranges[i].end;
        }
        return 0;
}

size_t kdkp_fin_put(uint8_t *b, const struct kdkp_fin *m) {
        memset(b, 0, KDKP_FIN_BODY);
        put_le64(b, m->length);
        put_le16(b + 8, m->flags);
        memcpy(b + 16, m->digest, 32);
        put_le64(b + 48, m->bytes_sent);
        put_le64(b + 56, m->bytes_retransmitted);
        put_le32(b + 64, m->elapsed_ms);
        return KDKP_FIN_BODY;
}

int kdkp_fin_parse(const uint8_t *b, size_t len, struct kdkp_fin *m) {
        if (len != KDKP_FIN_BODY)
                return -EBADMSG;
        m->length = le64(b);
        m->flags = le16(b + 8);
        memcpy(m->digest, b + 16, 32);
        m->bytes_sent = le64(b + 48);
        m->bytes_retransmitted = le64(b + 56);
        m->elapsed_ms = le32(b + 64);
        return 0;
}

size_t kdkp_result_put(uint8_t *b, const struct kdkp_result *m) {
        memset(b, 0, KDKP_RESULT_BODY);
        put_le16(b, m->status);
        put_le16(b + 2, m->code);
        put_le32(b + 4, m->retry_after_ms);
        put_le64(b + 8, m->stored_length);
        memcpy(b + 16, m->digest, 32);
        put_str(b + 48, m->dir, 64);
        return KDKP_RESULT_BODY;
}

int kdkp_result_parse(const uint8_t *b, size_t len, struct kdkp_result *m) {
        if (len != KDKP_RESULT_BODY)
                return -EBADMSG;
        m->status = le16(b);
        m->code = le16(b + 2);
        m->retry_after_ms = le32(b + 4);
        m->stored_length = le64(b + 8);
        memcpy(m->digest, b + 16, 32);
        get_str(m->dir, b + 48, 64);
        return 0;
}

#define ERROR_FIXED 42u

size_t kdkp_error_put(uint8_t *b, const struct kdkp_error *m) {
        size_t n = strnlen(m->text, KDKP_TEXT_MAX);

        memset(b, 0, ERROR_FIXED);
        put_le16(b, m->code);
        put_le16(b + 2, m->flags);
        put_le32(b + 4, m->retry_after_ms);
        memcpy(b + 8, m->rc, 32);
        put_le16(b + 40, (uint16_t)n);
        memcpy(b + ERROR_FIXED, m->text, n);
        return ERROR_FIXED + n;
}

int kdkp_error_parse(const uint8_t *b, size_t len, struct kdkp_error *m) {
        size_t n;

        if (len < ERROR_FIXED)
                return -EBADMSG;
        n = le16(b + 40);
        if (n > KDKP_TEXT_MAX || len != ERROR_FIXED + n)
                return -EBADMSG;
        m->code = le16(b);
        m->flags = le16(b + 2);
        m->retry_after_ms = le32(b + 4);
        memcpy(m->rc, b + 8, 32);
        for (size_t i = 0; i < n; i++)
                m->text[i] = b[ERROR_FIXED + i] >= 0x20 && b[ERROR_FIXED + i] < 0x7f ? (char)b[ERROR_FIXED + i] : '?';
        m->text[n] = '\0';
        return 0;
}

size_t kdkp_error_build_unauth(uint8_t *out, size_t size, const struct kdkp_error *m) {
        struct kdkp_header h = { .type = KDKP_ERROR, .flags = KDKP_FLAG_UNAUTH };
        size_t n;

        if (size < KDKP_HDR + ERROR_FIXED + KDKP_TEXT_MAX + KDKP_TAG)
                return 0;
        kdkp_header_put(out, &h);
        n = kdkp_error_put(out + KDKP_HDR, m);
        memset(out + KDKP_HDR + n, 0, KDKP_TAG);
        return KDKP_HDR + n + KDKP_TAG;
}

size_t kdkp_ping_put(uint8_t *out, size_t size, const struct kdkp_ping *m) {
        size_t len;

        if (size < KDKP_HDR + KDKP_PING_BODY + KDKP_TAG || size > KDKP_MAX_DGRAM)
                return 0;
        len = size - KDKP_HDR - KDKP_TAG;
        memset(out, 0, len);
        put_le64(out, m->token);
        return len;
}

size_t kdkp_pong_put(uint8_t *b, const struct kdkp_pong *m) {
        memset(b, 0, KDKP_PONG_BODY);
        put_le64(b, m->token);
        put_le64(b + 8, m->ping_pn);
        put_le16(b + 16, m->ping_size);
        return KDKP_PONG_BODY;
}

int kdkp_pong_parse(const uint8_t *b, size_t len, struct kdkp_pong *m) {
        if (len != KDKP_PONG_BODY)
                return -EBADMSG;
        m->token = le64(b);
        m->ping_pn = le64(b + 8);
        m->ping_size = le16(b + 16);
        return 0;
}

int kdkp_data_parse(const uint8_t *b, size_t len, uint64_t *ret_offset, const uint8_t **ret_payload,
                    size_t *ret_len) {
        uint64_t off;

        if (len <= 8)
                return -EBADMSG;
        off = le64(b);
        if (off > UINT64_MAX / 2)
                return -EBADMSG;
        *ret_offset = off;
        *ret_payload = b + 8;
        *ret_len = len - 8;
        return 0;
}

void kdkp_section_put(uint8_t out[KDKP_SECTION_HDR], uint16_t type, uint16_t flags, uint64_t length) {
        put_le16(out, type);
        put_le16(out + 2, flags);
        put_le32(out + 4, 0);
        put_le64(out + 8, length);
}
