/* Fuzz target: every KDKP/1 message parser (lib/kdkp.c) on one input, as
 * kdumpd and dumptool meet hostile datagrams, then the stream parser
 * (lib/kdkpstream.c) on the same bytes as stream data. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kdkp.h"
#include "kdkpstream.h"

static int sink_file(void *u, unsigned section, const uint8_t *buf, size_t len, uint64_t off) {
        (void)u, (void)section, (void)buf, (void)len, (void)off;
        return 0;
}

static int sink_done(void *u, unsigned section, uint32_t flags) {
        (void)u, (void)section, (void)flags;
        return 0;
}

static int sink_dump(void *u, const uint8_t *buf, size_t len, uint64_t off) {
        (void)u, (void)buf, (void)len, (void)off;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const uint8_t key[32] = { 1, 2, 3 };
        const struct kdkp_sink sink = { sink_file, sink_done, sink_dump, NULL };
        const struct kdkp_limits lim = { .max_dump_bytes = 1u << 30, .max_meta_bytes = 1u << 20 };
        struct kdkp_session_keys keys = { .session_id = 1 };
        struct kdkp_psk psk;
        struct kdkp_header h;
        struct kdkp_hello hello;
        struct kdkp_challenge ch;
        struct kdkp_init init;
        struct kdkp_accept acc;
        struct kdkp_ack ack;
        struct kdkp_fin fin;
        struct kdkp_result res;
        struct kdkp_error err;
        struct kdkp_pong pong;
        struct kdkp_replay w = { 0 };
        struct kdkp_parser p;
        const uint8_t *payload;
        uint64_t off;
        size_t n;
        char why[256];
        static uint8_t body[KDKP_MAX_DGRAM];

        kdkp_psk_init(&psk, key);
        if (kdkp_header_parse(data, size, &h) == 0 && size <= KDKP_MAX_DGRAM) {
                (void)kdkp_hello_parse(data, size, &hello);
                (void)kdkp_hello_verify(data, size, &psk);
                (void)kdkp_challenge_parse(data, size, &psk, key, &ch);
                if (kdkp_init_parse_clear(data, size, &init) == 0)
                        (void)kdkp_init_open(data, size, &keys, &init);
                (void)kdkp_open(data, size, keys.c2s, &h, body);
                if (kdkp_replay_check(&w, h.pn))
                        kdkp_replay_update(&w, h.pn);
        }
        (void)kdkp_accept_parse(data, size, &acc);
        (void)kdkp_ack_parse(data, size, &ack);
        (void)kdkp_fin_parse(data, size, &fin);
        (void)kdkp_result_parse(data, size, &res);
        (void)kdkp_error_parse(data, size, &err);
        (void)kdkp_pong_parse(data, size, &pong);
        (void)kdkp_data_parse(data, size, &off, &payload, &n);
        (void)kdkp_key_parse((const char *)data, size, body);
        kdkp_parser_init(&p);
        /* In two pieces, so that headers split across packets are covered. */
        if (kdkp_parser_feed(&p, data, size / 2, &lim, &sink, why, sizeof(why)) == 0)
                (void)kdkp_parser_feed(&p, data + size / 2, size - size / 2, &lim, &sink, why, sizeof(why));
        return 0;
}
