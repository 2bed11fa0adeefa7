/* VMCOREINFO parsing (kernel/vmcore_info.c writes it; see also
 * makedumpfile's read_vmcoreinfo for the reader conventions we share). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "caps.h"
#include "cleanup.h"
#include "vmcoreinfo.h"

struct entry {
        const char *key;
        const char *value;
};

struct vmcoreinfo {
        char *text;
        struct entry *entries;
        unsigned count;
};

struct vmcoreinfo *vmcoreinfo_free(struct vmcoreinfo *vi) {
        if (vi) {
                free(vi->text);
                free(vi->entries);
                free(vi);
        }
        return NULL;
}

DEFINE_CLEANUP_FUNC(struct vmcoreinfo, vmcoreinfo_free);

static int check_line(const char *line, size_t len) {
        const char *eq = memchr(line, '=', len);

        if (len > VMCOREINFO_LINE_MAX || !eq || eq == line)
                return -EBADMSG;
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e)
                        return -EBADMSG;
        return 0;
}

/* Splits text (NUL-terminated, no NULs inside) into entries in place. */
static int split_lines(struct vmcoreinfo *vi, unsigned *ret_bad_line) {
        char *p = vi->text;
        unsigned line_no = 0;

        while (*p) {
                char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t)(nl - p) : strlen(p);

                line_no++;
                if (len > 0) {
                        if (check_line(p, len) < 0) {
                                if (ret_bad_line)
                                        *ret_bad_line = line_no;
                                return -EBADMSG;
                        }
                        if (vi->count == VMCOREINFO_ENTRIES_MAX)
                                return -E2BIG;
                        p[len] = 0;
                        *strchr(p, '=') = 0;
                        vi->entries[vi->count].key = p;
                        vi->entries[vi->count++].value = p + strlen(p) + 1;
                }
                p += len + (nl ? 1 : 0);
        }
        return 0;
}

int vmcoreinfo_parse(const uint8_t *buf, size_t len, struct vmcoreinfo **ret, unsigned *ret_bad_line) {
        _cleanup_(vmcoreinfo_freep) struct vmcoreinfo *vi = NULL;
        size_t text_len = len;
        int r;

        if (len > VMCOREINFO_MAX)
                return -E2BIG;
        /* Only NUL padding may follow the text. */
        while (text_len > 0 && buf[text_len - 1] == 0)
                text_len--;
        if (memchr(buf, 0, text_len)) {
                if (ret_bad_line)
                        *ret_bad_line = 0;
                return -EBADMSG;
        }
        vi = calloc(1, sizeof(*vi));
        if (!vi)
                return -ENOMEM;
        vi->text = malloc(text_len + 1);
        vi->entries = calloc(text_len / 2 + 1, sizeof(struct entry));
        if (!vi->text || !vi->entries)
                return -ENOMEM;
        memcpy(vi->text, buf, text_len);
        vi->text[text_len] = 0;
        r = split_lines(vi, ret_bad_line);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(vi);
        return 0;
}

const char *vmcoreinfo_get(const struct vmcoreinfo *vi, const char *key) {
        /* The last definition wins, as in makedumpfile, should one repeat. */
        for (unsigned i = vi->count; i > 0; i--)
                if (strcmp(vi->entries[i - 1].key, key) == 0)
                        return vi->entries[i - 1].value;
        return NULL;
}

unsigned vmcoreinfo_count(const struct vmcoreinfo *vi) {
        return vi->count;
}

static int parse_u64(const char *s, int base, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (!*s || *s == '-' || *s == '+' || *s == ' ')
                return -EBADMSG;
        errno = 0;
        v = strtoull(s, &end, base);
        if (errno || *end)
                return -EBADMSG;
        *ret = v;
        return 0;
}

int vmcoreinfo_symbol(const struct vmcoreinfo *vi, const char *name, uint64_t *ret) {
        char key[VMCOREINFO_LINE_MAX + 16];
        const char *v;

        snprintf(key, sizeof(key), "SYMBOL(%s)", name);
        v = vmcoreinfo_get(vi, key);
        if (!v)
                return -ENOENT;
        return parse_u64(v, 16, ret);
}

static int parse_signed(const char *v, int64_t *ret) {
        bool negative = *v == '-';
        uint64_t u;

        if (negative)
                v++;
        if (parse_u64(v, 10, &u) < 0 && parse_u64(v, 16, &u) < 0)
                return -EBADMSG;
        if (u > (uint64_t)INT64_MAX + negative)
                return -EBADMSG;
        *ret = negative ? (int64_t)(0 - u) : (int64_t)u;
        return 0;
}

int vmcoreinfo_number(const struct vmcoreinfo *vi, const char *kind, const char *name, int64_t *ret) {
        char key[VMCOREINFO_LINE_MAX + 16];
        const char *v;

        snprintf(key, sizeof(key), "%s(%s)", kind, name);
        v = vmcoreinfo_get(vi, key);
        if (!v)
                return -ENOENT;
        return parse_signed(v, ret);
}

int vmcoreinfo_decimal(const struct vmcoreinfo *vi, const char *key, int64_t *ret) {
        const char *v = vmcoreinfo_get(vi, key);
        uint64_t u;

        if (!v)
                return -ENOENT;
        if (parse_u64(v, 10, &u) < 0 || u > INT64_MAX)
                return -EBADMSG;
        *ret = (int64_t)u;
        return 0;
}

void vmcoreinfo_add_missing(char *missing, size_t len, const char *name) {
        size_t used = strnlen(missing, len);

        if (used + 1 < len)
                snprintf(missing + used, len - used, "%s%s", used ? ", " : "", name);
}
