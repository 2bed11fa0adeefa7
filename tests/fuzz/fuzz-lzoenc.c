/* Fuzz target for lib/lzoenc: any bytes (up to LZOENC_MAX_INPUT), encoded
 * with room for the whole stream and with room cut short by the first
 * byte; every stream written must decode through liblzo's
 * lzo1x_decompress_safe() to exactly the input, be shorter than it, and
 * stay within the room given. */
#include <lzo/lzo1x.h>
#include <stdlib.h>
#include <string.h>

#include "lzoenc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[LZOENC_MAX_INPUT + 64], back[LZOENC_MAX_INPUT];

static void check(struct lzoenc *e, const uint8_t *in, size_t n, size_t cap) {
        size_t m;
        lzo_uint got = sizeof(back);

        memset(out, 0x5a, sizeof(out));
        m = lzoenc_compress(e, in, n, out, cap);
        for (size_t i = cap; i < sizeof(out); i++)
                if (out[i] != 0x5a)
                        abort();
        if (m == 0)
                return;
        if (m >= n || m > cap)
                abort();
        if (lzo1x_decompress_safe(out, m, back, &got, NULL) != LZO_E_OK || got != n || memcmp(back, in, n) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct lzoenc *e = NULL;

        if (size == 0)
                return 0;
        if (size > LZOENC_MAX_INPUT)
                size = LZOENC_MAX_INPUT;
        if (lzoenc_new(&e) < 0)
                return 0;
        check(e, data, size, sizeof(out));
        check(e, data, size, (size_t)data[0] * size / 256);
        lzoenc_free(e);
        return 0;
}
