/* Fuzz target for lib/deflateenc: any bytes (up to DEFLATEENC_MAX_INPUT),
 * encoded with room for the whole stream and with room cut short by the
 * first byte; every stream written must inflate through zlib to exactly
 * the input, be shorter than it, and stay within the room given. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "deflateenc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[DEFLATEENC_MAX_INPUT + 64], back[DEFLATEENC_MAX_INPUT];

static void check(struct deflateenc *e, const uint8_t *in, size_t n, size_t cap) {
        z_stream z = { .next_out = back, .avail_out = sizeof(back) };
        size_t m;
        int r;

        memset(out, 0x5a, sizeof(out));
        m = deflateenc_compress(e, in, n, out, cap);
        for (size_t i = cap; i < sizeof(out); i++)
                if (out[i] != 0x5a)
                        abort();
        if (m == 0)
                return;
        if (m >= n || m > cap)
                abort();
        z.next_in = out;
        z.avail_in = (uInt)m;
        if (inflateInit(&z) != Z_OK)
                abort();
        r = inflate(&z, Z_FINISH);
        inflateEnd(&z);
        if (r != Z_STREAM_END || z.avail_in != 0 || z.total_out != n || memcmp(back, in, n) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct deflateenc *e = NULL;

        if (size == 0)
                return 0;
        if (size > DEFLATEENC_MAX_INPUT)
                size = DEFLATEENC_MAX_INPUT;
        if (deflateenc_new(&e) < 0)
                return 0;
        check(e, data, size, sizeof(out));
        check(e, data, size, (size_t)data[0] * size / 256);
        deflateenc_free(e);
        return 0;
}
