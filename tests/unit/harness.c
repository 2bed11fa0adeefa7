/* The unit-test runner shared by every tests/unit executable. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define MAX_TESTS 512

enum outcome { PASSED, FAILED, SKIPPED };

struct harness {
        struct {
                const char *name;
                test_func func;
        } tests[MAX_TESTS];
        unsigned count;
        jmp_buf jump;
        char tmpdir[64];
};

/* The one piece of global state: constructors register into it before main. */
static struct harness harness;

void harness_register(const char *name, test_func func) {
        if (harness.count == MAX_TESTS) {
                fprintf(stderr, "harness: more than %d tests in one file\n", MAX_TESTS);
                abort();
        }
        harness.tests[harness.count].name = name;
        harness.tests[harness.count++].func = func;
}

void harness_fail(const char *file, int line, const char *fmt, ...) {
        va_list ap;

        fprintf(stdout, "    %s:%d: ", file, line);
        va_start(ap, fmt);
        vfprintf(stdout, fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        longjmp(harness.jump, FAILED);
}

void harness_skip(const char *why) {
        fprintf(stdout, "    skipped: %s\n", why);
        longjmp(harness.jump, SKIPPED);
}

static void remove_tree(const char *path) {
        DIR *d = opendir(path);
        struct dirent *e;

        if (!d)
                return;
        while ((e = readdir(d))) {
                char sub[4096];
                struct stat st;

                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
                if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
                        remove_tree(sub);
                else
                        unlink(sub);
        }
        closedir(d);
        rmdir(path);
}

const char *harness_tmpdir(void) {
        if (!harness.tmpdir[0]) {
                snprintf(harness.tmpdir, sizeof(harness.tmpdir), "/tmp/kdumpkit-unit-XXXXXX");
                if (!mkdtemp(harness.tmpdir))
                        harness_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
        }
        return harness.tmpdir;
}

static enum outcome run_one(unsigned i) {
        volatile enum outcome result = PASSED;
        int r = setjmp(harness.jump);

        if (r == 0)
                harness.tests[i].func();
        else
                result = (enum outcome)r;
        if (harness.tmpdir[0]) {
                remove_tree(harness.tmpdir);
                harness.tmpdir[0] = 0;
        }
        return result;
}

int main(void) {
        static const char *const words[] = { "ok  ", "FAIL", "skip" };
        unsigned counts[3] = {};

        for (unsigned i = 0; i < harness.count; i++) {
                enum outcome o = run_one(i);

                counts[o]++;
                printf("%s %s\n", words[o], harness.tests[i].name);
                fflush(stdout);
        }
        printf("%u passed, %u failed, %u skipped\n", counts[PASSED], counts[FAILED], counts[SKIPPED]);
        if (counts[FAILED])
                return 1;
        return counts[PASSED] == 0 && counts[SKIPPED] ? 77 : 0;
}
