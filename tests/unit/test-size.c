/* lib/size: the byte counts of crashkernel= and of our config files. */
#include <errno.h>

#include "harness.h"
#include "size.h"

static int parse(const char *s, uint64_t *ret) {
        return size_parse(s, strlen(s), ret);
}

TEST(plain_and_suffixed) {
        uint64_t v = 0;

        ASSERT_EQ_INT(parse("4096", &v), 0);
        ASSERT_EQ_U64(v, 4096);
        ASSERT_EQ_INT(parse("256M", &v), 0);
        ASSERT_EQ_U64(v, 256ull << 20);
        ASSERT_EQ_INT(parse("2g", &v), 0);
        ASSERT_EQ_U64(v, 2ull << 30);
        ASSERT_EQ_INT(parse("15E", &v), 0);
        ASSERT_EQ_U64(v, 15ull << 60);
}

TEST(rejects_malformed) {
        uint64_t v = 7;

        ASSERT_EQ_INT(parse("", &v), -EINVAL);
        ASSERT_EQ_INT(parse("M", &v), -EINVAL);
        ASSERT_EQ_INT(parse("12MB", &v), -EINVAL);
        ASSERT_EQ_INT(parse("-1", &v), -EINVAL);
        ASSERT_EQ_INT(parse("1 M", &v), -EINVAL);
        ASSERT_EQ_INT(parse("12X", &v), -EINVAL);
        ASSERT_EQ_INT(parse("0000000000000000000000000000000001", &v), -EINVAL);
        ASSERT_EQ_U64(v, 7); /* untouched on failure */
}

TEST(rejects_overflow) {
        uint64_t v = 0;

        ASSERT_EQ_INT(parse("18446744073709551615", &v), 0);
        ASSERT_EQ_U64(v, UINT64_MAX);
        ASSERT_EQ_INT(parse("18446744073709551616", &v), -ERANGE);
        ASSERT_EQ_INT(parse("16E", &v), -ERANGE);
        ASSERT_EQ_INT(parse("17179869184G", &v), -ERANGE);
}

TEST(embedded_nul_is_not_a_size) {
        uint64_t v = 0;

        ASSERT_EQ_INT(size_parse("12\0M", 4, &v), -EINVAL);
}

TEST(format_round_trips) {
        char buf[SIZE_STRING_MAX];
        static const uint64_t values[] = { 0, 1, 1023, 1024, 1536 << 10, 256ull << 20, 3ull << 40, UINT64_MAX };

        ASSERT_STREQ(size_format(256ull << 20, buf, sizeof(buf)), "256M");
        ASSERT_STREQ(size_format(1536 << 10, buf, sizeof(buf)), "1536K");
        ASSERT_STREQ(size_format(7, buf, sizeof(buf)), "7");
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
                uint64_t back = 0;

                size_format(values[i], buf, sizeof(buf));
                ASSERT_EQ_INT(parse(buf, &back), 0);
                ASSERT_EQ_U64(back, values[i]);
        }
}
