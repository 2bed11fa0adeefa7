/* lib/kdkp and the stream digest of lib/kdkpstream against the golden
 * vectors of docs/protocol.md §11 (key schedule, one DATA packet byte by
 * byte, the digest chain), sealing and opening, the replay window, and every
 * message parser at its exact size and one byte short. The vectors are also
 * recomputed here with plain libsodium calls, so that neither the spec nor
 * lib/kdkp.c can drift without this test saying which. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>

#include "harness.h"
#include "kdkp.h"
#include "kdkpstream.h"
#include "unaligned.h"

/* §11.1 */
#define PSK_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_ID_HEX "a8c51edd833ef4ca"
#define K_MAC_HEX "91df622ca4701eabc21394cfa64b4b4bc1f989fd49532466d78e9851b8986c94"
#define K_HS_HEX "c4c9d419e65d46c2a32e0130c686b96211526710c4c92e1f10b5109ef9ca35af"
#define RC_HEX "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
#define RS_HEX "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
#define MASTER_HEX "5c2d984e385fda94fd9b05e8a83f3eaed7048de8612cc86d13c3c5580049d0b3"
#define K_C2S_HEX "4213e7df0d6255a31f2e82a14aadb2403bbaadd08ed91a7506e06d1773f9a0ae"
#define K_S2C_HEX "208f0736bb509ac7b652303eaf5bb2c88df5725c8b1b53366064f1c40dc0d49e"
#define SESSION_ID_HEX "58a1321423fec5df"
#define SESSION_ID 0xdfc5fe231432a158ull

/* §11.2: the 75-byte datagram, as its table and hex lines give it. */
#define DATA_HEADER_HEX "4b444b50" "01" "10" "2000" "0000" "0100" "00000000" "58a1321423fec5df" "0100000000000000"
#define DATA_PLAINTEXT_HEX "0000000000000000" "0100" "0000" "00000000" "0300000000000000" "7b7d0a"
#define DATA_CIPHERTEXT_HEX "fd23207322276fb90bc4b247fc84d40a76c1449f504915bf1a7de5"
#define DATA_TAG_HEX "96e25a6c11a870b3db439aa1a15bb91a"
#define DUMP_ID_HEX "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
#define K_STREAM_HEX "b49de86ae7cf488bbdc084c0afe1f40b279824002b1194905f48aa92dd3b7496"
#define CHAIN_KEY_HEX "eb91b67a6b7fc793b29e65a296bf65c1a80a61c328aa55af8e8c96e231bb0e3b"
#define K_SEG1_HEX "c808bd2b0fe7b8ebb35d8e40668f0e0d2a5c5321376dd14900187acc4451e9ec"
#define X1_HEX "46b8db9119db7e284d83e4ae2d258168"
#define H1_HEX "906daea196f8d7b73d2c070abd78cc25" "00000000000000000000000000000000"
#define DIGEST_HEX "82db48983ba62cbd657f6e93a7093019ffacf3c17a7c670caa15538e7e4779b4"

/* Decodes a spec vector; the length must be exactly what the table says. */
static void unhex(uint8_t *out, size_t len, const char *hex) {
        size_t n = 0;

        if (strlen(hex) != 2 * len || sodium_hex2bin(out, len, hex, strlen(hex), NULL, &n, NULL) != 0 || n != len)
                harness_fail(__FILE__, __LINE__, "vector \"%s\" is not %zu bytes of hex", hex, len);
}

/* Byte by byte: names the first offset that differs and both bytes. */
#define ASSERT_BYTES(got, hex, len)                                                                  \
        do {                                                                                         \
                uint8_t _want[512];                                                                  \
                size_t _n = (len);                                                                   \
                unhex(_want, _n, hex);                                                               \
                for (size_t _i = 0; _i < _n; _i++)                                                   \
                        if ((got)[_i] != _want[_i])                                                  \
                                harness_fail(__FILE__, __LINE__, "%s byte %zu: %02x, the spec says %02x", \
                                             #got, _i, (got)[_i], _want[_i]);                        \
        } while (0)

static void init_sodium(void) {
        if (sodium_init() < 0)
                harness_fail(__FILE__, __LINE__, "sodium_init failed");
}

static void spec_session(struct kdkp_psk *psk, struct kdkp_session_keys *keys) {
        uint8_t key[32], rc[32], rs[32];

        init_sodium();
        unhex(key, 32, PSK_HEX);
        unhex(rc, 32, RC_HEX);
        unhex(rs, 32, RS_HEX);
        kdkp_psk_init(psk, key);
        kdkp_session_keys(psk, rc, rs, keys);
}

TEST(key_schedule_as_lib_kdkp_derives_it) {
        struct kdkp_session_keys keys;
        struct kdkp_psk psk;
        uint8_t id[8];

        spec_session(&psk, &keys);
        ASSERT_BYTES(psk.key_id, KEY_ID_HEX, 8);
        ASSERT_BYTES(psk.mac_key, K_MAC_HEX, 32);
        ASSERT_BYTES(psk.hs_key, K_HS_HEX, 32);
        ASSERT_BYTES(keys.c2s, K_C2S_HEX, 32);
        ASSERT_BYTES(keys.s2c, K_S2C_HEX, 32);
        ASSERT_EQ_U64(keys.session_id, SESSION_ID);
        put_le64(id, keys.session_id);
        ASSERT_BYTES(id, SESSION_ID_HEX, 8);
}

/* §2 step by step with libsodium alone, master included (lib/kdkp.c never
 * shows it): the spec's vectors are libsodium's output, not kdkp.c's. */
TEST(key_schedule_as_libsodium_computes_it) {
        uint8_t psk[32], rc[32], rs[32], id16[16], mac[32], hs[32], master[32], c2s[32], s2c[32], sid[16];
        uint8_t in[18 + 8 + 32 + 32];

        init_sodium();
        unhex(psk, 32, PSK_HEX);
        unhex(rc, 32, RC_HEX);
        unhex(rs, 32, RS_HEX);
        ASSERT_EQ_INT(crypto_kdf_derive_from_key(id16, 16, 1, "kdkt-psk", psk), 0);
        ASSERT_EQ_INT(crypto_kdf_derive_from_key(mac, 32, 2, "kdkt-psk", psk), 0);
        ASSERT_EQ_INT(crypto_kdf_derive_from_key(hs, 32, 3, "kdkt-psk", psk), 0);
        memcpy(in, "kdumpkit/1 session", 18);
        memcpy(in + 18, id16, 8);
        memcpy(in + 26, rc, 32);
        memcpy(in + 58, rs, 32);
        ASSERT_EQ_INT(crypto_generichash(master, 32, in, sizeof(in), hs, 32), 0);
        ASSERT_EQ_INT(crypto_kdf_derive_from_key(c2s, 32, 1, "kdkt-ses", master), 0);
        ASSERT_EQ_INT(crypto_kdf_derive_from_key(s2c, 32, 2, "kdkt-ses", master), 0);
        ASSERT_EQ_INT(crypto_kdf_derive_from_key(sid, 16, 3, "kdkt-ses", master), 0);
        ASSERT_BYTES(id16, KEY_ID_HEX, 8);
        ASSERT_BYTES(mac, K_MAC_HEX, 32);
        ASSERT_BYTES(hs, K_HS_HEX, 32);
        ASSERT_BYTES(master, MASTER_HEX, 32);
        ASSERT_BYTES(c2s, K_C2S_HEX, 32);
        ASSERT_BYTES(s2c, K_S2C_HEX, 32);
        ASSERT_BYTES(sid, SESSION_ID_HEX, 8);
}

/* The first DATA of §11.2's session: pn 1, LARGE_FRAMES, offset 0, a
 * crash.json section of length 3 and "{}\n". */
static size_t spec_data_body(uint8_t body[27]) {
        put_le64(body, 0);
        kdkp_section_put(body + 8, KDKP_SECTION_CRASH_JSON, 0, 3);
        memcpy(body + 24, "{}\n", 3);
        return 27;
}

static const struct kdkp_header spec_data_header = {
        .type = KDKP_DATA, .hdr_size = KDKP_HDR, .features = 0x0001, .session_id = SESSION_ID, .pn = 1,
};

TEST(data_packet_byte_by_byte) {
        struct kdkp_session_keys keys;
        struct kdkp_psk psk;
        uint8_t body[27], out[KDKP_MAX_DGRAM];
        size_t n;

        spec_session(&psk, &keys);
        ASSERT_EQ_U64(spec_data_body(body), 27);
        ASSERT_BYTES(body, DATA_PLAINTEXT_HEX, 27);
        n = kdkp_seal(out, sizeof(out), keys.c2s, &spec_data_header, body, sizeof(body));
        ASSERT_EQ_U64(n, 75);
        ASSERT_BYTES(out, DATA_HEADER_HEX, 32);
        ASSERT_BYTES(out + 32, DATA_CIPHERTEXT_HEX, 27);
        ASSERT_BYTES(out + 59, DATA_TAG_HEX, 16);
}

/* The same datagram with libsodium alone: nonce 00000000 ‖ pn, AD the header. */
TEST(data_packet_as_libsodium_seals_it) {
        uint8_t key[32], header[32], plain[27], nonce[12], out[27 + 16];
        unsigned long long n = 0;

        init_sodium();
        unhex(key, 32, K_C2S_HEX);
        unhex(header, 32, DATA_HEADER_HEX);
        unhex(plain, 27, DATA_PLAINTEXT_HEX);
        unhex(nonce, 12, "000000000100000000000000");
        ASSERT_EQ_INT(crypto_aead_chacha20poly1305_ietf_encrypt(out, &n, plain, 27, header, 32, NULL, nonce, key), 0);
        ASSERT_EQ_U64(n, 43);
        ASSERT_BYTES(out, DATA_CIPHERTEXT_HEX, 27);
        ASSERT_BYTES(out + 27, DATA_TAG_HEX, 16);
}

static size_t spec_datagram(uint8_t out[75]) {
        unhex(out, 32, DATA_HEADER_HEX);
        unhex(out + 32, 27, DATA_CIPHERTEXT_HEX);
        unhex(out + 59, 16, DATA_TAG_HEX);
        return 75;
}

TEST(data_packet_opens_and_parses) {
        struct kdkp_session_keys keys;
        struct kdkp_header h;
        struct kdkp_psk psk;
        uint8_t pkt[75], body[75];
        const uint8_t *payload;
        uint64_t off = 99;
        size_t n = 0;

        spec_session(&psk, &keys);
        spec_datagram(pkt);
        ASSERT_EQ_INT(kdkp_header_parse(pkt, sizeof(pkt), &h), 0);
        ASSERT_EQ_INT(h.type, KDKP_DATA);
        ASSERT_EQ_INT(h.hdr_size, 32);
        ASSERT_EQ_INT(h.flags, 0);
        ASSERT_EQ_INT(h.features, 1);
        ASSERT_EQ_U64(h.session_id, SESSION_ID);
        ASSERT_EQ_U64(h.pn, 1);
        ASSERT_EQ_INT(kdkp_open(pkt, sizeof(pkt), keys.c2s, &h, body), 27);
        ASSERT_BYTES(body, DATA_PLAINTEXT_HEX, 27);
        ASSERT_EQ_INT(kdkp_data_parse(body, 27, &off, &payload, &n), 0);
        ASSERT_EQ_U64(off, 0);
        ASSERT_EQ_U64(n, 19);
        ASSERT_TRUE(payload == body + 8);
        /* the other direction's key does not open it */
        ASSERT_EQ_INT(kdkp_open(pkt, sizeof(pkt), keys.s2c, &h, body), -EBADMSG);
}

TEST(stream_digest_chain) {
        uint8_t key[32], dump_id[16], stream[19], zero[32] = { 0 };
        struct kdkp_psk psk;
        struct kdkp_chain c;
        uint8_t digest[32];

        init_sodium();
        unhex(key, 32, PSK_HEX);
        kdkp_psk_init(&psk, key);
        ASSERT_BYTES(psk.stream_key, K_STREAM_HEX, 32);
        unhex(dump_id, 16, DUMP_ID_HEX);
        kdkp_section_put(stream, KDKP_SECTION_CRASH_JSON, 0, 3);
        memcpy(stream + 16, "{}\n", 3);
        kdkp_chain_init(&c, psk.stream_key, dump_id);
        ASSERT_BYTES(c.master, CHAIN_KEY_HEX, 32);
        ASSERT_TRUE(memcmp(c.h, zero, 32) == 0);
        /* in two pieces: the chain does not depend on how bytes arrive */
        kdkp_chain_update(&c, stream, 5);
        kdkp_chain_update(&c, stream + 5, 14);
        ASSERT_EQ_U64(c.offset, 19);
        kdkp_chain_final(&c, digest);
        ASSERT_BYTES(digest, DIGEST_HEX, 32);
}

/* §5.3 with libsodium and libxxhash alone: K_stream, the chain key, segment
 * 1's key, x[1] = XXH3-128(segment), h[1] = BLAKE2b-128(h[0] ‖ x[1], key =
 * k[1]), D = BLAKE2b(h[1] ‖ u64 L, key). */
TEST(stream_digest_as_the_libraries_compute_it) {
        uint8_t psk[32], ks[32], dump_id[16], in[18 + 16], chain_key[32], k1[32], seg[19], hin[32] = { 0 };
        uint8_t h1[32] = { 0 }, fin[16 + 8], digest[32];
        XXH128_canonical_t x1;

        init_sodium();
        unhex(psk, 32, PSK_HEX);
        unhex(dump_id, 16, DUMP_ID_HEX);
        ASSERT_EQ_INT(crypto_kdf_derive_from_key(ks, 32, 4, "kdkt-psk", psk), 0);
        memcpy(in, "kdumpkit stream v3", 18);
        memcpy(in + 18, dump_id, 16);
        ASSERT_EQ_INT(crypto_generichash(chain_key, 32, in, sizeof(in), ks, 32), 0);
        ASSERT_EQ_INT(crypto_kdf_derive_from_key(k1, 32, 1, "kdkt-seg", chain_key), 0);
        kdkp_section_put(seg, KDKP_SECTION_CRASH_JSON, 0, 3);
        memcpy(seg + 16, "{}\n", 3);
        XXH128_canonicalFromHash(&x1, XXH3_128bits(seg, sizeof(seg)));
        memcpy(hin + 16, x1.digest, 16);
        ASSERT_EQ_INT(crypto_generichash(h1, 16, hin, sizeof(hin), k1, 32), 0);
        memcpy(fin, h1, 16);
        put_le64(fin + 16, 19);
        ASSERT_EQ_INT(crypto_generichash(digest, 32, fin, sizeof(fin), chain_key, 32), 0);
        ASSERT_BYTES(ks, K_STREAM_HEX, 32);
        ASSERT_BYTES(chain_key, CHAIN_KEY_HEX, 32);
        ASSERT_BYTES(k1, K_SEG1_HEX, 32);
        ASSERT_BYTES(x1.digest, X1_HEX, 16);
        ASSERT_BYTES(h1, H1_HEX, 32);
        ASSERT_BYTES(digest, DIGEST_HEX, 32);
}

/* A chain value at a segment boundary, stored and resumed, goes on to the
 * same digest as the chain that never stopped. */
TEST(stream_digest_resumes) {
        static uint8_t stream[KDKP_SEG + 4096];
        uint8_t key[32], dump_id[16], h[32], whole[32], resumed[32];
        struct kdkp_psk psk;
        struct kdkp_chain a, b;

        init_sodium();
        for (size_t i = 0; i < sizeof(stream); i++)
                stream[i] = (uint8_t)(i * 31 + 7);
        unhex(key, 32, PSK_HEX);
        kdkp_psk_init(&psk, key);
        unhex(dump_id, 16, DUMP_ID_HEX);
        kdkp_chain_init(&a, psk.stream_key, dump_id);
        kdkp_chain_update(&a, stream, KDKP_SEG);
        memcpy(h, a.h, 32);
        kdkp_chain_update(&a, stream + KDKP_SEG, 4096);
        kdkp_chain_final(&a, whole);
        kdkp_chain_init(&b, psk.stream_key, dump_id);
        kdkp_chain_resume(&b, KDKP_SEG, h);
        kdkp_chain_update(&b, stream + KDKP_SEG, 4096);
        kdkp_chain_final(&b, resumed);
        ASSERT_TRUE(memcmp(whole, resumed, 32) == 0);
        /* another dump_id: another digest */
        dump_id[0] ^= 1;
        kdkp_chain_init(&b, psk.stream_key, dump_id);
        kdkp_chain_update(&b, stream, sizeof(stream));
        kdkp_chain_final(&b, resumed);
        ASSERT_TRUE(memcmp(whole, resumed, 32) != 0);
}

TEST(seal_open_round_trip) {
        static uint8_t body[KDKP_MAX_DGRAM], back[KDKP_MAX_DGRAM], pkt[KDKP_MAX_DGRAM];
        static const size_t lens[] = { 0, 1, 8, 27, 1416, KDKP_MAX_DGRAM - KDKP_HDR - KDKP_TAG };
        struct kdkp_session_keys keys;
        struct kdkp_psk psk;

        spec_session(&psk, &keys);
        for (size_t i = 0; i < sizeof(body); i++)
                body[i] = (uint8_t)(i * 7 + 3);
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
                struct kdkp_header h = { .type = KDKP_DATA, .flags = KDKP_FLAG_RETX, .session_id = SESSION_ID,
                                         .pn = 1000 + i }, got;
                size_t n = kdkp_seal(pkt, sizeof(pkt), keys.c2s, &h, body, lens[i]);

                ASSERT_EQ_U64(n, KDKP_HDR + lens[i] + KDKP_TAG);
                ASSERT_EQ_INT(kdkp_header_parse(pkt, n, &got), 0);
                ASSERT_EQ_U64(got.pn, 1000 + i);
                ASSERT_EQ_INT(got.flags, KDKP_FLAG_RETX);
                memset(back, 0, sizeof(back));
                ASSERT_EQ_INT(kdkp_open(pkt, n, keys.c2s, &got, back), (int)lens[i]);
                ASSERT_MEMEQ(back, body, lens[i]);
        }
        /* a body one byte too large for the buffer is not sealed */
        ASSERT_EQ_U64(kdkp_seal(pkt, 32 + 10 + 16, keys.c2s, &spec_data_header, body, 11), 0);
        ASSERT_EQ_U64(kdkp_seal(pkt, 32 + 10 + 16, keys.c2s, &spec_data_header, body, 10), 58);
}

/* Every byte of the golden datagram, flipped one at a time: a header that
 * still parses must fail to open. */
TEST(tampered_byte_rejected) {
        struct kdkp_session_keys keys;
        struct kdkp_psk psk;
        uint8_t pkt[75], body[75], plain[27];
        unsigned parsed = 0;

        spec_session(&psk, &keys);
        unhex(plain, 27, DATA_PLAINTEXT_HEX);
        for (size_t i = 0; i < sizeof(pkt); i++) {
                struct kdkp_header h;

                spec_datagram(pkt);
                pkt[i] ^= 0x01;
                if (kdkp_header_parse(pkt, sizeof(pkt), &h) < 0)
                        continue; /* magic, version or hdr_size: dropped before the AEAD */
                parsed++;
                if (kdkp_open(pkt, sizeof(pkt), keys.c2s, &h, body) != -EBADMSG)
                        harness_fail(__FILE__, __LINE__, "byte %zu flipped: the packet still opens", i);
                /* and no plaintext comes out (libsodium zeroes the buffer) */
                if (memcmp(body, plain, sizeof(plain)) == 0)
                        harness_fail(__FILE__, __LINE__, "byte %zu flipped: the plaintext was released", i);
        }
        /* all but the 4 magic bytes, the version and hdr_size's high byte
         * (288 is past the datagram) reach the AEAD; hdr_size 33 does too */
        ASSERT_EQ_INT(parsed, 75 - 6);
        /* and a truncated packet does not open either */
        {
                struct kdkp_header h;
                spec_datagram(pkt);
                ASSERT_EQ_INT(kdkp_header_parse(pkt, 74, &h), 0);
                ASSERT_EQ_INT(kdkp_open(pkt, 74, keys.c2s, &h, body), -EBADMSG);
        }
}

/* What §3.2 says, as plainly as it says it: the largest authenticated pn and
 * the set of pns seen, with no bitmap. */
struct model {
        uint64_t largest;
        bool any;
        uint8_t *seen;
};

static bool model_check(const struct model *m, uint64_t pn) {
        if (!m->any || pn > m->largest)
                return true;
        return pn + KDKP_REPLAY_WINDOW > m->largest && !m->seen[pn];
}

static void model_update(struct model *m, uint64_t pn) {
        if (!m->any || pn > m->largest)
                m->largest = pn;
        m->any = true;
        m->seen[pn] = 1;
}

static void accept_pn(struct kdkp_replay *w, uint64_t pn) {
        if (!kdkp_replay_check(w, pn))
                harness_fail(__FILE__, __LINE__, "pn %ju is new but the window refuses it", (uintmax_t)pn);
        kdkp_replay_update(w, pn);
}

TEST(replay_duplicate) {
        struct kdkp_replay w = { 0 };

        ASSERT_TRUE(kdkp_replay_check(&w, 0));
        accept_pn(&w, 0);
        ASSERT_TRUE(!kdkp_replay_check(&w, 0));
        for (uint64_t pn = 1; pn <= 100; pn++)
                accept_pn(&w, pn);
        for (uint64_t pn = 0; pn <= 100; pn++)
                ASSERT_TRUE(!kdkp_replay_check(&w, pn));
        ASSERT_TRUE(kdkp_replay_check(&w, 101));
        /* checking alone changes nothing: only an authenticated pn counts */
        ASSERT_TRUE(kdkp_replay_check(&w, 5000));
        ASSERT_TRUE(kdkp_replay_check(&w, 101));
        ASSERT_EQ_U64(w.largest, 100);
}

TEST(replay_too_old) {
        struct kdkp_replay w = { 0 };

        accept_pn(&w, 2000);
        /* pn + 1024 <= largest is too old, seen or not */
        ASSERT_TRUE(!kdkp_replay_check(&w, 976));
        ASSERT_TRUE(!kdkp_replay_check(&w, 0));
        ASSERT_TRUE(kdkp_replay_check(&w, 977));
        accept_pn(&w, 977);
        ASSERT_TRUE(!kdkp_replay_check(&w, 977));
        /* a jump past the whole window forgets everything below it */
        accept_pn(&w, 1000000);
        ASSERT_TRUE(!kdkp_replay_check(&w, 2000));
        ASSERT_TRUE(!kdkp_replay_check(&w, 1000000 - 1024));
        for (uint64_t pn = 1000000 - 1023; pn < 1000000; pn++)
                ASSERT_TRUE(kdkp_replay_check(&w, pn));
}

TEST(replay_in_window_out_of_order) {
        struct kdkp_replay w = { 0 };

        accept_pn(&w, 10);
        accept_pn(&w, 7);
        accept_pn(&w, 9);
        accept_pn(&w, 8);
        accept_pn(&w, 1);
        for (uint64_t pn = 7; pn <= 10; pn++)
                ASSERT_TRUE(!kdkp_replay_check(&w, pn));
        ASSERT_TRUE(!kdkp_replay_check(&w, 1));
        ASSERT_TRUE(kdkp_replay_check(&w, 2));
        ASSERT_TRUE(kdkp_replay_check(&w, 6));
        ASSERT_EQ_U64(w.largest, 10);
        /* 1023 below largest is the oldest pn still accepted, once */
        accept_pn(&w, 3000);
        ASSERT_TRUE(!kdkp_replay_check(&w, 3000 - 1024));
        accept_pn(&w, 3000 - 1023);
        ASSERT_TRUE(!kdkp_replay_check(&w, 3000 - 1023));
        accept_pn(&w, 2999);
}

/* Every pn of a whole window seen, whatever the largest pn's place in its
 * 64-bit word: each must stay refused. A bitmap of exactly 1024 bits
 * forgets the oldest word of the window when largest enters a new word. */
TEST(replay_whole_window_seen) {
        for (uint64_t largest = 1024; largest < 1024 + 130; largest++) {
                struct kdkp_replay w = { 0 };

                for (uint64_t pn = 0; pn <= largest; pn++)
                        kdkp_replay_update(&w, pn);
                for (uint64_t pn = 0; pn <= largest; pn++)
                        if (kdkp_replay_check(&w, pn))
                                harness_fail(__FILE__, __LINE__, "largest %ju: pn %ju was seen but is accepted again",
                                             (uintmax_t)largest, (uintmax_t)pn);
        }
}

/* Random arrivals, mostly ahead, some late, some repeated, against the
 * model; a fixed seed, so a failure is the same failure every run. */
TEST(replay_against_model) {
        enum { PNS = 1 << 22, STEPS = 200000 };
        struct model m = { .seen = calloc(PNS + 8192, 1) };
        struct kdkp_replay w = { 0 };
        uint64_t state = 0x9e3779b97f4a7c15ull;

        ASSERT_TRUE(m.seen != NULL);
        for (unsigned i = 0; i < STEPS; i++) {
                uint64_t r, pn;
                bool want, got;

                state = state * 6364136223846793005ull + 1442695040888963407ull;
                r = state >> 33;
                if (r % 8 < 5 || !m.any)
                        pn = (m.any ? m.largest : 0) + 1 + r / 8 % (r % 97 == 0 ? 3000 : 4);
                else
                        pn = m.largest - (r / 8 % (m.largest < 1500 ? m.largest + 1 : 1500));
                if (pn >= PNS)
                        break;
                want = model_check(&m, pn);
                got = kdkp_replay_check(&w, pn);
                if (want != got)
                        harness_fail(__FILE__, __LINE__, "step %u: pn %ju with largest %ju: window says %d, model %d",
                                     i, (uintmax_t)pn, (uintmax_t)m.largest, got, want);
                if (want) {
                        model_update(&m, pn);
                        kdkp_replay_update(&w, pn);
                }
        }
        ASSERT_TRUE(m.largest > 10000);
        free(m.seen);
}

/* Message bodies: each parser takes its exact size and refuses one byte
 * less (and one more, where the size is fixed). Field offsets are checked
 * against the layout tables of §4, §6 and §7. */

TEST(header_sizes) {
        uint8_t pkt[48] = { 0 };
        struct kdkp_header h = { .type = KDKP_PING, .flags = 0x0004, .features = 0, .session_id = 7, .pn = 9 }, got;

        kdkp_header_put(pkt, &h);
        ASSERT_EQ_INT(kdkp_header_parse(pkt, 48, &got), 0);
        ASSERT_EQ_INT(got.hdr_size, 32);
        ASSERT_EQ_INT(got.flags, 4);
        ASSERT_EQ_U64(got.session_id, 7);
        ASSERT_EQ_U64(got.pn, 9);
        ASSERT_EQ_INT(kdkp_header_parse(pkt, 47, &got), -EBADMSG);
        put_le16(pkt + 6, 33); /* header past the datagram less its tag */
        ASSERT_EQ_INT(kdkp_header_parse(pkt, 48, &got), -EBADMSG);
        ASSERT_EQ_INT(kdkp_header_parse(pkt, 49, &got), 0);
        put_le16(pkt + 6, 31);
        ASSERT_EQ_INT(kdkp_header_parse(pkt, 48, &got), -EBADMSG);
        put_le16(pkt + 6, 32);
        pkt[4] = 2;
        ASSERT_EQ_INT(kdkp_header_parse(pkt, 48, &got), -EPROTONOSUPPORT);
        pkt[4] = 1;
        pkt[0] = 'k';
        ASSERT_EQ_INT(kdkp_header_parse(pkt, 48, &got), -EBADMSG);
}

TEST(hello_sizes) {
        struct kdkp_session_keys keys;
        struct kdkp_psk psk;
        struct kdkp_hello m = { .max_datagram = 8972 }, got;
        uint8_t pkt[KDKP_BASE_DGRAM];
        size_t n;

        spec_session(&psk, &keys);
        memcpy(m.key_id, psk.key_id, 8);
        unhex(m.rc, 32, RC_HEX);
        n = kdkp_hello_build(pkt, KDKP_MIN_DGRAM, &psk, &m);
        ASSERT_EQ_U64(n, KDKP_MIN_DGRAM);
        ASSERT_EQ_INT(kdkp_hello_parse(pkt, n, &got), 0);
        ASSERT_MEMEQ(got.key_id, psk.key_id, 8);
        ASSERT_MEMEQ(got.rc, m.rc, 32);
        ASSERT_EQ_INT(got.max_datagram, 8972);
        ASSERT_EQ_INT(le16(pkt + 32 + 40), 8972);
        ASSERT_EQ_INT(kdkp_hello_verify(pkt, n, &psk), 0);
        /* one byte short of the smallest datagram could draw a larger reply */
        ASSERT_EQ_INT(kdkp_hello_parse(pkt, n - 1, &got), -EBADMSG);
        ASSERT_EQ_INT(kdkp_hello_verify(pkt, n - 1, &psk), -EBADMSG);
        n = kdkp_hello_build(pkt, sizeof(pkt), &psk, &m);
        ASSERT_EQ_U64(n, KDKP_BASE_DGRAM);
        ASSERT_EQ_INT(kdkp_hello_verify(pkt, n, &psk), 0);
        pkt[100] ^= 1; /* padding is under the MAC too */
        ASSERT_EQ_INT(kdkp_hello_verify(pkt, n, &psk), -EBADMSG);
}

TEST(challenge_sizes) {
        struct kdkp_session_keys keys;
        struct kdkp_psk psk;
        struct kdkp_challenge m = { .cookie_time = 0x01020304, .base_datagram = 1472, .max_datagram = 1400 }, got;
        uint8_t pkt[256], rc[32], other_rc[32];
        size_t n;

        spec_session(&psk, &keys);
        unhex(rc, 32, RC_HEX);
        unhex(m.rs, 32, RS_HEX);
        memset(m.cookie, 0xc0, 16);
        n = kdkp_challenge_build(pkt, &psk, rc, &m);
        ASSERT_EQ_U64(n, 32 + 64 + 16);
        ASSERT_EQ_INT(le32(pkt + 32 + 32), 0x01020304);
        ASSERT_EQ_INT(le16(pkt + 32 + 52), 1472);
        ASSERT_EQ_INT(le16(pkt + 32 + 54), 1400);
        ASSERT_EQ_INT(kdkp_challenge_parse(pkt, n, &psk, rc, &got), 0);
        ASSERT_MEMEQ(got.rs, m.rs, 32);
        ASSERT_MEMEQ(got.cookie, m.cookie, 16);
        ASSERT_EQ_INT(got.cookie_time, 0x01020304);
        ASSERT_EQ_INT(kdkp_challenge_parse(pkt, n - 1, &psk, rc, &got), -EBADMSG);
        ASSERT_EQ_INT(kdkp_challenge_parse(pkt, n + 1, &psk, rc, &got), -EBADMSG);
        /* the MAC covers the client's Rc, which is not sent */
        memcpy(other_rc, rc, 32);
        other_rc[31] ^= 1;
        ASSERT_EQ_INT(kdkp_challenge_parse(pkt, n, &psk, other_rc, &got), -EBADMSG);
}

TEST(init_sizes) {
        struct kdkp_session_keys keys;
        struct kdkp_psk psk;
        struct kdkp_init m = { .cookie_time = 77, .crash_time = 1750000000, .size_hint = 1 << 30,
                               .resume_buffer = 16 << 20, .stream_format = 1 }, got;
        uint8_t pkt[512];
        size_t n;

        spec_session(&psk, &keys);
        memcpy(m.key_id, psk.key_id, 8);
        unhex(m.rc, 32, RC_HEX);
        unhex(m.rs, 32, RS_HEX);
        memset(m.cookie, 0x5a, 16);
        memset(m.dump_id, 0xd1, 16);
        /* a field exactly full: NUL-padded, not NUL-terminated (§ Conventions) */
        memset(m.hostname, 'h', 64);
        snprintf(m.release, sizeof(m.release), "6.12.48+deb13-cloud-amd64");
        snprintf(m.machine, sizeof(m.machine), "x86_64");
        snprintf(m.tool, sizeof(m.tool), "dumptool 0.1.0");
        n = kdkp_init_build(pkt, &keys, &m);
        ASSERT_EQ_U64(n, 32 + KDKP_INIT_CLEAR + KDKP_INIT_BODY + 16);
        ASSERT_EQ_U64(le64(pkt + 16), SESSION_ID);
        ASSERT_EQ_U64(le64(pkt + 24), 0);
        ASSERT_MEMEQ(pkt + 32, psk.key_id, 8);
        ASSERT_EQ_INT(le32(pkt + 32 + 72), 77);
        memset(&got, 0, sizeof(got));
        ASSERT_EQ_INT(kdkp_init_parse_clear(pkt, n, &got), 0);
        ASSERT_MEMEQ(got.rs, m.rs, 32);
        ASSERT_MEMEQ(got.cookie, m.cookie, 16);
        ASSERT_EQ_INT(kdkp_init_open(pkt, n, &keys, &got), 0);
        ASSERT_MEMEQ(got.dump_id, m.dump_id, 16);
        ASSERT_EQ_U64(got.crash_time, 1750000000);
        ASSERT_EQ_U64(got.size_hint, 1 << 30);
        ASSERT_EQ_U64(got.resume_buffer, 16 << 20);
        ASSERT_EQ_INT(got.stream_format, 1);
        ASSERT_EQ_U64(strlen(got.hostname), 64);
        ASSERT_STREQ(got.release, "6.12.48+deb13-cloud-amd64");
        ASSERT_STREQ(got.machine, "x86_64");
        ASSERT_STREQ(got.tool, "dumptool 0.1.0");
        ASSERT_EQ_INT(kdkp_init_parse_clear(pkt, n - 1, &got), -EBADMSG);
        ASSERT_EQ_INT(kdkp_init_open(pkt, n - 1, &keys, &got), -EBADMSG);
        ASSERT_EQ_INT(kdkp_init_parse_clear(pkt, n + 1, &got), -EBADMSG);
        /* the clear part is in the AD: an echoed cookie changed fails to open */
        pkt[32 + 76] ^= 1;
        ASSERT_EQ_INT(kdkp_init_parse_clear(pkt, n, &got), 0);
        ASSERT_EQ_INT(kdkp_init_open(pkt, n, &keys, &got), -EBADMSG);
        pkt[32 + 76] ^= 1;
        /* INIT is pn 0 only */
        put_le64(pkt + 24, 1);
        ASSERT_EQ_INT(kdkp_init_parse_clear(pkt, n, &got), -EBADMSG);
}

TEST(accept_sizes) {
        struct kdkp_accept m = { .dump_status = KDKP_ADMITTED, .code = 3, .retry_after_ms = 2000,
                                 .resume_offset = 16u << 20, .max_offset = 20u << 20, .max_dump_bytes = 256ull << 30,
                                 .max_meta_bytes = 32u << 20, .rate_cap = 61035, .max_ack_delay_us = 2000,
                                 .max_datagram = 1472, .idle_timeout_s = 60 }, got;
        uint8_t b[KDKP_ACCEPT_BODY + 1];

        memset(m.resume_chain, 0xcc, 32);
        snprintf(m.dir, sizeof(m.dir), "192.0.2.15-2025-06-14-09:41:07");
        ASSERT_EQ_U64(kdkp_accept_put(b, &m), 144);
        ASSERT_EQ_INT(le16(b + 2), 3);
        ASSERT_EQ_U64(le64(b + 8), 16u << 20);
        ASSERT_EQ_INT(b[16], 0xcc);
        ASSERT_EQ_U64(le64(b + 48), 20u << 20);
        ASSERT_EQ_U64(le64(b + 56), 256ull << 30);
        ASSERT_EQ_INT(le32(b + 68), 61035);
        ASSERT_EQ_INT(le16(b + 76), 1472);
        ASSERT_EQ_INT(le16(b + 78), 60);
        ASSERT_TRUE(memcmp(b + 80, "192.0.2.15-", 11) == 0);
        ASSERT_EQ_INT(kdkp_accept_parse(b, 144, &got), 0);
        ASSERT_EQ_U64(got.resume_offset, 16u << 20);
        ASSERT_EQ_INT(got.max_meta_bytes, 32u << 20);
        ASSERT_EQ_INT(got.max_ack_delay_us, 2000);
        ASSERT_STREQ(got.dir, "192.0.2.15-2025-06-14-09:41:07");
        ASSERT_EQ_INT(kdkp_accept_parse(b, 143, &got), -EBADMSG);
        ASSERT_EQ_INT(kdkp_accept_parse(b, 145, &got), -EBADMSG);
}

TEST(ack_sizes) {
        struct kdkp_ack m = { .recv_offset = 41064, .commit_offset = 0, .max_offset = 4u << 20, .largest_pn = 33,
                              .ack_delay_us = 150, .rate_cap = 61035, .nranges = 2,
                              .ranges = { { 42480, 46728 }, { 50000, 50001 } } }, got;
        uint8_t b[48 + 16 * KDKP_SACK_MAX + 1];

        ASSERT_EQ_U64(kdkp_ack_put(b, &m), 48 + 32);
        ASSERT_EQ_U64(le64(b + 24), 33);
        ASSERT_EQ_INT(le32(b + 32), 150);
        ASSERT_EQ_INT(le16(b + 40), 2);
        ASSERT_EQ_U64(le64(b + 48), 42480);
        ASSERT_EQ_U64(le64(b + 72), 50001);
        ASSERT_EQ_INT(kdkp_ack_parse(b, 80, &got), 0);
        ASSERT_EQ_U64(got.recv_offset, 41064);
        ASSERT_EQ_U64(got.max_offset, 4u << 20);
        ASSERT_EQ_INT(got.rate_cap, 61035);
        ASSERT_EQ_INT(got.nranges, 2);
        ASSERT_EQ_U64(got.ranges[0].start, 42480);
        ASSERT_EQ_U64(got.ranges[1].end, 50001);
        ASSERT_EQ_INT(kdkp_ack_parse(b, 79, &got), -EBADMSG);
        ASSERT_EQ_INT(kdkp_ack_parse(b, 81, &got), -EBADMSG);
        m.nranges = 0;
        ASSERT_EQ_U64(kdkp_ack_put(b, &m), 48);
        ASSERT_EQ_INT(kdkp_ack_parse(b, 48, &got), 0);
        ASSERT_EQ_INT(kdkp_ack_parse(b, 47, &got), -EBADMSG);
        m.nranges = KDKP_SACK_MAX;
        for (unsigned i = 0; i < KDKP_SACK_MAX; i++)
                m.ranges[i] = (struct kdkp_range){ 50000 + 10 * i, 50005 + 10 * i };
        ASSERT_EQ_U64(kdkp_ack_put(b, &m), 48 + 16 * KDKP_SACK_MAX);
        ASSERT_EQ_INT(kdkp_ack_parse(b, 48 + 16 * KDKP_SACK_MAX, &got), 0);
        ASSERT_EQ_INT(kdkp_ack_parse(b, 48 + 16 * KDKP_SACK_MAX - 1, &got), -EBADMSG);
        /* more ranges than the cap: refused even with the bytes for them */
        put_le16(b + 40, KDKP_SACK_MAX + 1);
        ASSERT_EQ_INT(kdkp_ack_parse(b, 48 + 16 * (KDKP_SACK_MAX + 1), &got), -EBADMSG);
}

TEST(fin_sizes) {
        struct kdkp_fin m = { .length = 41950018, .flags = 0, .bytes_sent = 42000000, .bytes_retransmitted = 1416,
                              .elapsed_ms = 11000 }, got;
        uint8_t b[KDKP_FIN_BODY + 1];

        memset(m.digest, 0xdd, 32);
        ASSERT_EQ_U64(kdkp_fin_put(b, &m), 72);
        ASSERT_EQ_U64(le64(b), 41950018);
        ASSERT_EQ_INT(b[16], 0xdd);
        ASSERT_EQ_U64(le64(b + 56), 1416);
        ASSERT_EQ_INT(le32(b + 64), 11000);
        ASSERT_EQ_INT(kdkp_fin_parse(b, 72, &got), 0);
        ASSERT_EQ_U64(got.length, 41950018);
        ASSERT_EQ_U64(got.bytes_sent, 42000000);
        ASSERT_MEMEQ(got.digest, m.digest, 32);
        ASSERT_EQ_INT(kdkp_fin_parse(b, 71, &got), -EBADMSG);
        ASSERT_EQ_INT(kdkp_fin_parse(b, 73, &got), -EBADMSG);
}

TEST(result_sizes) {
        struct kdkp_result m = { .status = KDKP_FAILED, .code = KDKP_E_HASH_MISMATCH, .retry_after_ms = 5,
                                 .stored_length = 123456789 }, got;
        uint8_t b[KDKP_RESULT_BODY + 1];

        memset(m.digest, 0xab, 32);
        snprintf(m.dir, sizeof(m.dir), "%s", "127.0.0.1-2026-01-01-00:00:00");
        ASSERT_EQ_U64(kdkp_result_put(b, &m), 112);
        ASSERT_EQ_INT(le16(b), KDKP_FAILED);
        ASSERT_EQ_INT(le16(b + 2), 8);
        ASSERT_EQ_U64(le64(b + 8), 123456789);
        ASSERT_EQ_INT(b[47], 0xab);
        ASSERT_TRUE(memcmp(b + 48, "127.0.0.1-", 10) == 0);
        ASSERT_EQ_INT(kdkp_result_parse(b, 112, &got), 0);
        ASSERT_EQ_INT(got.code, KDKP_E_HASH_MISMATCH);
        ASSERT_EQ_U64(got.stored_length, 123456789);
        ASSERT_STREQ(got.dir, "127.0.0.1-2026-01-01-00:00:00");
        ASSERT_EQ_INT(kdkp_result_parse(b, 111, &got), -EBADMSG);
        ASSERT_EQ_INT(kdkp_result_parse(b, 113, &got), -EBADMSG);
}

TEST(error_sizes) {
        struct kdkp_error m = { .code = KDKP_E_DISK_FULL, .flags = KDKP_ERROR_FATAL, .retry_after_ms = 9 }, got;
        uint8_t b[42 + KDKP_TEXT_MAX + 1];

        memset(m.rc, 0x11, 32);
        snprintf(m.text, sizeof(m.text), "disk full");
        ASSERT_EQ_U64(kdkp_error_put(b, &m), 42 + 9);
        ASSERT_EQ_INT(le16(b + 2), 1);
        ASSERT_EQ_INT(b[8], 0x11);
        ASSERT_EQ_INT(le16(b + 40), 9);
        b[42 + 4] = 0x07; /* a control byte in the text is shown as '?' */
        ASSERT_EQ_INT(kdkp_error_parse(b, 51, &got), 0);
        ASSERT_EQ_INT(got.code, KDKP_E_DISK_FULL);
        ASSERT_STREQ(got.text, "disk?full");
        ASSERT_EQ_INT(kdkp_error_parse(b, 50, &got), -EBADMSG);
        ASSERT_EQ_INT(kdkp_error_parse(b, 52, &got), -EBADMSG);
        m.text[0] = '\0';
        ASSERT_EQ_U64(kdkp_error_put(b, &m), 42);
        ASSERT_EQ_INT(kdkp_error_parse(b, 42, &got), 0);
        ASSERT_EQ_INT(kdkp_error_parse(b, 41, &got), -EBADMSG);
        memset(m.text, 'x', KDKP_TEXT_MAX);
        m.text[KDKP_TEXT_MAX] = '\0';
        ASSERT_EQ_U64(kdkp_error_put(b, &m), 42 + KDKP_TEXT_MAX);
        ASSERT_EQ_INT(kdkp_error_parse(b, 42 + KDKP_TEXT_MAX, &got), 0);
        ASSERT_EQ_INT(kdkp_error_parse(b, 42 + KDKP_TEXT_MAX - 1, &got), -EBADMSG);
        put_le16(b + 40, KDKP_TEXT_MAX + 1);
        ASSERT_EQ_INT(kdkp_error_parse(b, 42 + KDKP_TEXT_MAX + 1, &got), -EBADMSG);
}

TEST(unauth_error_datagram) {
        struct kdkp_error m = { .code = KDKP_E_BAD_KEY }, got;
        struct kdkp_header h;
        uint8_t pkt[512];
        size_t n;

        snprintf(m.text, sizeof(m.text), "unknown key id a8c51edd833ef4ca");
        n = kdkp_error_build_unauth(pkt, sizeof(pkt), &m);
        ASSERT_EQ_U64(n, 32 + 42 + 31 + 16);
        ASSERT_EQ_INT(kdkp_header_parse(pkt, n, &h), 0);
        ASSERT_EQ_INT(h.type, KDKP_ERROR);
        ASSERT_EQ_INT(h.flags, KDKP_FLAG_UNAUTH);
        ASSERT_EQ_U64(h.session_id, 0);
        for (size_t i = n - 16; i < n; i++)
                ASSERT_EQ_INT(pkt[i], 0);
        ASSERT_EQ_INT(kdkp_error_parse(pkt + 32, n - 48, &got), 0);
        ASSERT_STREQ(got.text, "unknown key id a8c51edd833ef4ca");
        ASSERT_EQ_INT(kdkp_error_parse(pkt + 32, n - 49, &got), -EBADMSG);
}

TEST(pong_sizes) {
        struct kdkp_pong m = { .token = 0x0102030405060708ull, .ping_pn = 77, .ping_size = 8972 }, got;
        uint8_t b[KDKP_PONG_BODY + 1];

        ASSERT_EQ_U64(kdkp_pong_put(b, &m), 24);
        ASSERT_EQ_U64(le64(b), 0x0102030405060708ull);
        ASSERT_EQ_U64(le64(b + 8), 77);
        ASSERT_EQ_INT(le16(b + 16), 8972);
        ASSERT_EQ_INT(kdkp_pong_parse(b, 24, &got), 0);
        ASSERT_EQ_U64(got.token, 0x0102030405060708ull);
        ASSERT_EQ_INT(got.ping_size, 8972);
        ASSERT_EQ_INT(kdkp_pong_parse(b, 23, &got), -EBADMSG);
        ASSERT_EQ_INT(kdkp_pong_parse(b, 25, &got), -EBADMSG);
}

TEST(data_sizes) {
        uint8_t b[16] = { 0 };
        const uint8_t *payload = NULL;
        uint64_t off = 0;
        size_t n = 0;

        put_le64(b, 63346);
        /* the smallest DATA: an offset and one byte of payload */
        ASSERT_EQ_INT(kdkp_data_parse(b, 9, &off, &payload, &n), 0);
        ASSERT_EQ_U64(off, 63346);
        ASSERT_EQ_U64(n, 1);
        ASSERT_EQ_INT(kdkp_data_parse(b, 8, &off, &payload, &n), -EBADMSG);
        put_le64(b, UINT64_MAX - 4); /* an offset whose end would wrap */
        ASSERT_EQ_INT(kdkp_data_parse(b, 16, &off, &payload, &n), -EBADMSG);
}

TEST(key_file_sizes) {
        uint8_t key[32], want[32];
        char text[66];

        unhex(want, 32, PSK_HEX);
        memcpy(text, PSK_HEX, 64);
        text[64] = '\n';
        ASSERT_EQ_INT(kdkp_key_parse(text, 65, key), 0);
        ASSERT_MEMEQ(key, want, 32);
        ASSERT_EQ_INT(kdkp_key_parse(text, 64, key), 0);
        ASSERT_EQ_INT(kdkp_key_parse(text, 63, key), -EINVAL);
        text[65] = '\n';
        ASSERT_EQ_INT(kdkp_key_parse(text, 66, key), -EINVAL);
        text[3] = 'g';
        ASSERT_EQ_INT(kdkp_key_parse(text, 64, key), -EINVAL);
}
