/* Byte counts with binary suffixes, as memparse() reads them. */
#include <errno.h>
#include <stdio.h>

#include "size.h"

static int suffix_shift(char c) {
        static const char units[] = "KMGTPE";

        for (int i = 0; units[i]; i++)
                if (c == units[i] || c == units[i] + ('a' - 'A'))
                        return 10 * (i + 1);
        return -1;
}

int size_parse(const char *buf, size_t len, uint64_t *ret_bytes) {
        uint64_t v = 0;
        size_t i = 0;
        int shift = 0;

        if (len == 0 || len > SIZE_STRING_MAX)
                return -EINVAL;
        for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
                uint64_t digit = (uint64_t)(buf[i] - '0');

                if (v > (UINT64_MAX - digit) / 10)
                        return -ERANGE;
                v = v * 10 + digit;
        }
        if (i == 0)
                return -EINVAL;
        if (i < len) {
                shift = suffix_shift(buf[i]);
                if (shift < 0 || i + 1 != len)
                        return -EINVAL;
        }
        if (shift && v > (UINT64_MAX >> shift))
                return -ERANGE;
        *ret_bytes = v << shift;
        return 0;
}

char *size_format(uint64_t bytes, char *buf, size_t buflen) {
        static const char units[] = " KMGTPE";
        int u = 0;

        while (bytes && u < 6 && (bytes & 1023) == 0) {
                bytes >>= 10;
                u++;
        }
        if (u == 0)
                snprintf(buf, buflen, "%llu", (unsigned long long)bytes);
        else
                snprintf(buf, buflen, "%llu%c", (unsigned long long)bytes, units[u]);
        return buf;
}
