/* A tiny unit-test harness. Each TEST() registers itself; the shared main()
 * runs them all, and a failed assertion prints file:line and both values,
 * then moves on to the next test. Exit status: 0 all passed, 1 a failure,
 * 77 (meson's "skip") when every test skipped. The last line printed is
 * "N passed, N failed, N skipped". */
#pragma once

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef void (*test_func)(void);

void harness_register(const char *name, test_func func);
_Noreturn void harness_fail(const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
_Noreturn void harness_skip(const char *why);
/* A scratch directory, removed after the run; valid inside a test. */
const char *harness_tmpdir(void);

#define TEST(name)                                                              \
        static void test_##name(void);                                          \
        __attribute__((constructor)) static void register_##name(void) {       \
                harness_register(#name, test_##name);                           \
        }                                                                       \
        static void test_##name(void)

#define SKIP(why) harness_skip(why)

#define ASSERT_TRUE(e)                                                          \
        do {                                                                    \
                if (!(e))                                                       \
                        harness_fail(__FILE__, __LINE__, "expected true: %s", #e); \
        } while (0)

#define ASSERT_EQ_INT(a, b)                                                     \
        do {                                                                    \
                intmax_t _a = (intmax_t)(a), _b = (intmax_t)(b);                \
                if (_a != _b)                                                   \
                        harness_fail(__FILE__, __LINE__, "%s == %s: %jd != %jd", #a, #b, _a, _b); \
        } while (0)

#define ASSERT_EQ_U64(a, b)                                                     \
        do {                                                                    \
                uintmax_t _a = (uintmax_t)(a), _b = (uintmax_t)(b);             \
                if (_a != _b)                                                   \
                        harness_fail(__FILE__, __LINE__, "%s == %s: %ju (0x%jx) != %ju (0x%jx)", \
                                     #a, #b, _a, _a, _b, _b);                    \
        } while (0)

#define ASSERT_STREQ(a, b)                                                      \
        do {                                                                    \
                const char *_a = (a), *_b = (b);                                \
                if (!_a || !_b || strcmp(_a, _b) != 0)                          \
                        harness_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b, \
                                     _a ? _a : "(null)", _b ? _b : "(null)");   \
        } while (0)

#define ASSERT_MEMEQ(a, b, n)                                                   \
        do {                                                                    \
                size_t _n = (n);                                                \
                if (memcmp((a), (b), _n) != 0)                                  \
                        harness_fail(__FILE__, __LINE__, "%s and %s differ in their %zu bytes", #a, #b, _n); \
        } while (0)
