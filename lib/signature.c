/* The crash signature from the kernel log: panic line, oops header, RIP,
 * call trace, taint and modules, and a SHA-256 over their normalised form. */
#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "cleanup.h"
#include "signature.h"

#define PANIC_PREFIX "Kernel panic - not syncing: "
/* Header lines further apart than this start a new oops. */
#define HEADER_GROUP_LINES 4

/* One line of the log with its dmesg columns removed. */
struct line {
        const char *text;
        size_t len;
};

/* Where things are, as line indexes (-1: not seen). */
struct marks {
        long panic, header, rip, cpu;
        long trace_before, trace_after;  /* the last "Call Trace:" before the panic line, the first after */
        long modules;
};

static bool starts(const struct line *l, const char *prefix) {
        size_t n = strlen(prefix);

        return l->len >= n && memcmp(l->text, prefix, n) == 0;
}

/* Skips "[   12.345678] " and "[     T42] " / "[      C1] ". */
static void strip_columns(struct line *l) {
        for (int column = 0; column < 2 && l->len > 2 && l->text[0] == '['; column++) {
                const char *close = memchr(l->text, ']', l->len);
                size_t i = 1;

                if (!close)
                        return;
                while (l->text + i < close && l->text[i] == ' ')
                        i++;
                if (column == 1 && (l->text[i] == 'T' || l->text[i] == 'C'))
                        i++;
                while (l->text + i < close && (isdigit((unsigned char)l->text[i]) || l->text[i] == '.'))
                        i++;
                if (l->text + i != close || close + 1 >= l->text + l->len || close[1] != ' ')
                        return;
                l->len -= (size_t)(close + 2 - l->text);
                l->text = close + 2;
        }
}

static char *copy(const char *s, size_t n) {
        char *c = malloc(n + 1);

        if (c) {
                memcpy(c, s, n);
                c[n] = 0;
        }
        return c;
}

static bool is_header(const struct line *l) {
        static const char *const kinds[] = {
                "BUG: ", "kernel BUG at ", "Oops: ", "WARNING: ", "general protection fault", "Unable to handle kernel",
                "divide error: ", "invalid opcode: ", "stack segment: ", "double fault: ", "#PF: ",
        };

        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
                if (starts(l, kinds[i]))
                        return true;
        return false;
}

/* "#PF: ..." lines follow the header; they never open an oops. */
static void mark_header(struct marks *m, long i, const struct line *l, long *last_header) {
        if (*last_header < 0 || i - *last_header > HEADER_GROUP_LINES)
                if (!starts(l, "#PF: "))
                        m->header = i;
        *last_header = i;
}

/* Splits text into lines and notes where the parts are. Only marks before
 * the last panic line count for the oops; the trace after it is panic()'s. */
static int scan(const char *text, size_t len, struct line **ret_lines, long *ret_n, struct marks *m) {
        size_t cap = 0;
        long n = 0, last_header = -1;
        struct line *lines = NULL;

        *m = (struct marks){ -1, -1, -1, -1, -1, -1, -1 };
        for (const char *p = text, *end = text + len; p < end;) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                struct line l = { p, (size_t)((nl ? nl : end) - p) };

                p = nl ? nl + 1 : end;
                strip_columns(&l);
                if ((size_t)n == cap) {
                        struct line *more = realloc(lines, (cap = cap ? cap * 2 : 1024) * sizeof(*lines));

                        if (!more) {
                                free(lines);
                                return -ENOMEM;
                        }
                        lines = more;
                }
                lines[n] = l;
                if (starts(&l, PANIC_PREFIX))
                        m->panic = n, m->trace_after = -1;
                else if (is_header(&l))
                        mark_header(m, n, &l, &last_header);
                else if (starts(&l, "RIP: 0010:") && m->panic < 0)
                        m->rip = n;     /* after the panic line: an NMI's interrupted context */
                else if (starts(&l, "CPU: ") && memmem(l.text, l.len, "PID: ", 5))
                        m->cpu = n;
                else if (starts(&l, "Modules linked in:"))
                        m->modules = n;
                else if (starts(&l, "Call Trace:")) {
                        if (m->panic >= 0 && m->trace_after < 0)
                                m->trace_after = n;
                        else if (m->panic < 0)
                                m->trace_before = n;
                }
                n++;
        }
        *ret_lines = lines;
        *ret_n = n;
        return 0;
}

/* A RIP: line, a Code: line, a register dump ("RAX: ...", "CR2: ..."):
 * these sit inside a trace between its frames. */
static bool is_register_line(const struct line *l) {
        size_t i = 0;

        while (i < l->len && i < 8 && (isupper((unsigned char)l->text[i]) || isdigit((unsigned char)l->text[i]) ||
                                      l->text[i] == 'o' || l->text[i] == 'd' || l->text[i] == 'e'))
                i++;
        return i > 1 && i < l->len && l->text[i] == ':';
}

/* "func.cold+0x9f/0xe6 [mod]" → "func [mod]": the clone suffixes the
 * compiler adds (.cold, .isra.0, .constprop.0, .part.0) vary between
 * builds of one source. Returns NULL (no frame) for an address alone. */
static char *frame_name(const char *s, size_t len) {
        size_t name = 0, mod_start, mod_len = 0;
        const char *plus;
        char buf[FRAME_NAME_MAX + 2 + MODULE_NAME_FIELD_MAX + 2];

        while (name < len && (isalnum((unsigned char)s[name]) || s[name] == '_' || s[name] == '.' || s[name] == '$'))
                name++;
        plus = memchr(s, '+', len);
        if (name == 0 || !plus || plus != s + name || name > FRAME_NAME_MAX || isdigit((unsigned char)s[0]))
                return NULL;
        mod_start = (size_t)((const char *)memchr(s, ' ', len) ? (const char *)memchr(s, ' ', len) - s : (long)len);
        if (mod_start + 3 < len && s[mod_start + 1] == '[' && s[len - 1] == ']')
                mod_len = len - mod_start - 3;
        if (mod_len > MODULE_NAME_FIELD_MAX)
                return NULL;
        for (size_t i = 0; i < name; i++)
                if (s[i] == '.' && i > 0) {
                        name = i;
                        break;
                }
        if (mod_len)
                snprintf(buf, sizeof(buf), "%.*s [%.*s]", (int)name, s, (int)mod_len, s + mod_start + 2);
        else
                snprintf(buf, sizeof(buf), "%.*s", (int)name, s);
        return strdup(buf);
}

/* Frames that only report the crash (panic() and its stack dump) say
 * nothing about the bug; a run of them at the top is skipped. */
static bool is_reporting_frame(const char *f) {
        static const char *const names[] = {
                "dump_stack", "dump_stack_lvl", "show_stack", "panic", "vpanic", "nmi_panic", "__warn",
                "warn_slowpath_fmt", "report_bug",
        };

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(f, names[i]) == 0)
                        return true;
        return false;
}

/* Takes frames from the trace at line `from`: '?' (unreliable) frames are
 * dropped, and the trace ends at the first closing context marker (</NMI>,
 * </IRQ>, </TASK>), past which lies only the interrupted context. */
static int read_trace(struct signature *s, const struct line *lines, long n, long from) {
        for (long i = from + 1; i < n && s->n_frames < SIGNATURE_FRAMES; i++) {
                const struct line *l = &lines[i];
                size_t skip = 0;
                char *f;

                while (skip < l->len && l->text[skip] == ' ')
                        skip++;
                if (skip == l->len)
                        continue;
                if (skip == 0) {
                        if (is_register_line(l))
                                continue;
                        break;
                }
                if (starts(&(struct line){ l->text + skip, l->len - skip }, "</"))
                        break;
                if (l->text[skip] == '<' || l->text[skip] == '?')
                        continue;
                if (!(f = frame_name(l->text + skip, l->len - skip)))
                        continue;
                if (s->n_frames == 0 && is_reporting_frame(f)) {
                        free(f);
                        continue;
                }
                s->frames[s->n_frames++] = f;
        }
        return 0;
}

/* "CPU: 1 UID: 0 PID: 110 Comm: sh Kdump: loaded Not tainted 6.1.0 #1" */
static int read_cpu_line(struct signature *s, const struct line *l) {
        char buf[LOG_LINE_PARSE_MAX + 1], comm[64];
        const char *p;
        long long cpu, pid;

        snprintf(buf, sizeof(buf), "%.*s", (int)(l->len < LOG_LINE_PARSE_MAX ? l->len : LOG_LINE_PARSE_MAX), l->text);
        if (sscanf(buf, "CPU: %lld", &cpu) == 1)
                s->cpu = cpu;
        if ((p = strstr(buf, "PID: ")) && sscanf(p, "PID: %lld Comm: %63s", &pid, comm) == 2) {
                s->pid = pid;
                if (!(s->comm = strdup(comm)))
                        return -ENOMEM;
        }
        if (strstr(buf, "Not tainted"))
                s->taint = strdup("");
        else if ((p = strstr(buf, "Tainted: "))) {
                char letters[64];
                size_t n = 0;

                /* The flags column is letters and blanks up to the release. */
                for (p += strlen("Tainted: "); *p && (isupper((unsigned char)*p) || *p == ' ') && n + 1 < sizeof(letters); p++)
                        if (*p != ' ')
                                letters[n++] = *p;
                letters[n] = 0;
                s->taint = strdup(letters);
        }
        return (strstr(buf, "ainted") && !s->taint) ? -ENOMEM : 0;
}

static int take_line(char **field, const struct line *l, size_t skip) {
        size_t n = l->len - skip;

        if (n > LOG_LINE_PARSE_MAX)
                n = LOG_LINE_PARSE_MAX;
        *field = copy(l->text + skip, n);
        return *field ? 0 : -ENOMEM;
}

static int fill(struct signature *s, const struct line *lines, long n, const struct marks *m) {
        long trace = m->trace_after >= 0 ? m->trace_after : m->trace_before;
        int r = 0;

        if (m->panic >= 0)
                r = take_line(&s->panic, &lines[m->panic], strlen(PANIC_PREFIX));
        if (r == 0 && m->header >= 0)
                r = take_line(&s->header, &lines[m->header], 0);
        if (r == 0 && m->rip >= 0)
                r = take_line(&s->rip, &lines[m->rip], strlen("RIP: 0010:"));
        if (r == 0 && m->modules >= 0)
                r = take_line(&s->modules, &lines[m->modules], strlen("Modules linked in:"));
        if (r == 0 && m->cpu >= 0)
                r = read_cpu_line(s, &lines[m->cpu]);
        if (r == 0 && trace >= 0)
                r = read_trace(s, lines, n, trace);
        if (r == 0 && s->modules) {
                char *p = s->modules;

                while (*p == ' ')
                        p++;
                memmove(s->modules, p, strlen(p) + 1);
        }
        return r;
}

int signature_parse(const char *text, size_t len, struct signature **ret) {
        _cleanup_free_ struct line *lines = NULL;
        struct signature *s;
        struct marks m;
        long n;
        int r;

        if (len > SIGNATURE_LOG_MAX) {
                text += len - SIGNATURE_LOG_MAX;
                len = SIGNATURE_LOG_MAX;
        }
        if (!(s = calloc(1, sizeof(*s))))
                return -ENOMEM;
        s->pid = s->cpu = -1;
        if ((r = scan(text, len, &lines, &n, &m)) < 0 ||
            /* Only a header, RIP or trace before the panic line belongs to
             * the oops that caused it; panic()'s own trace follows it. */
            (r = fill(s, lines, n, &m)) < 0) {
                signature_free(s);
                return r;
        }
        if (s->rip && !(s->function = frame_name(s->rip, strlen(s->rip)))) {
                signature_free(s);
                return -ENOMEM;
        }
        *ret = s;
        return 0;
}

struct signature *signature_free(struct signature *s) {
        if (!s)
                return NULL;
        free(s->panic);
        free(s->header);
        free(s->rip);
        free(s->function);
        for (size_t i = 0; i < s->n_frames; i++)
                free(s->frames[i]);
        free(s->taint);
        free(s->modules);
        free(s->comm);
        free(s->reason);
        free(s);
        return NULL;
}

int signature_set_rip(struct signature *s, const char *rip) {
        char *r = strdup(rip), *f = frame_name(rip, strlen(rip));

        if (!r || !f) {
                free(r);
                free(f);
                return -ENOMEM;
        }
        free(s->rip);
        free(s->function);
        s->rip = r;
        s->function = f;
        s->rip_from_kallsyms = true;
        return 0;
}

static bool is_word(char c) {
        return isalnum((unsigned char)c) || c == '_';
}

/* A word of hex digits with at least one decimal digit: 0x1f, 12, 00ff00. */
static bool is_number(const char *w, size_t n) {
        bool digit = false;

        if (n > 2 && w[0] == '0' && w[1] == 'x')
                w += 2, n -= 2;
        for (size_t i = 0; i < n; i++) {
                if (!isxdigit((unsigned char)w[i]))
                        return false;
                digit |= isdigit((unsigned char)w[i]) != 0;
        }
        return digit;
}

void signature_normalize(char *line) {
        char *out = line;

        for (char *p = line; *p;) {
                size_t n = 0;

                if (*p == '+' && p[1] == '0' && p[2] == 'x') {
                        /* "+0x16/0x20": a symbol offset */
                        char *q = p + 3;

                        while (isxdigit((unsigned char)*q))
                                q++;
                        if (q[0] == '/' && q[1] == '0' && q[2] == 'x') {
                                for (q += 3; isxdigit((unsigned char)*q);)
                                        q++;
                                p = q;
                                continue;
                        }
                }
                if (isspace((unsigned char)*p)) {
                        while (isspace((unsigned char)*p))
                                p++;
                        if (out != line && *p)
                                *out++ = ' ';
                        continue;
                }
                if (!is_word(*p) || (p != line && is_word(p[-1]))) {
                        *out++ = *p++;
                        continue;
                }
                while (is_word(p[n]))
                        n++;
                if (is_number(p, n))
                        *out++ = 'N';
                else
                        memmove(out, p, n), out += n;
                p += n;
        }
        *out = 0;
}

static int append(char **buf, size_t *len, const char *tag, const char *value) {
        size_t add = strlen(tag) + (value ? strlen(value) : 0) + 1;
        char *more = realloc(*buf, *len + add + 1);

        if (!more)
                return -ENOMEM;
        *buf = more;
        *len += (size_t)snprintf(more + *len, add + 1, "%s%s\n", tag, value ? value : "");
        return 0;
}

static char *normalized(const char *s) {
        char *c = s ? strdup(s) : strdup("");

        if (c)
                signature_normalize(c);
        return c;
}

/* What the hash covers: the normalised header and panic line, the
 * function of a RIP: line the log printed (one resolved through kallsyms
 * is shown but not hashed: whether it can be resolved depends on which
 * pages a dump kept), and the frames. */
int signature_finish(struct signature *s) {
        _cleanup_free_ char *input = NULL, *panic = normalized(s->panic), *header = normalized(s->header);
        size_t len = 0;
        char version[32];
        int r;

        if (!panic || !header)
                return -ENOMEM;
        free(s->reason);
        if (asprintf(&s->reason, "%s%s%s", header, header[0] && panic[0] ? " | " : "", panic) < 0) {
                s->reason = NULL;
                return -ENOMEM;
        }
        snprintf(version, sizeof(version), "%d", SIGNATURE_VERSION);
        if ((r = append(&input, &len, "kdumpkit-signature ", version)) < 0 ||
            (r = append(&input, &len, "reason ", s->reason)) < 0 ||
            (r = append(&input, &len, "function ", s->rip_from_kallsyms ? NULL : s->function)) < 0)
                return r;
        for (size_t i = 0; i < s->n_frames; i++)
                if ((r = append(&input, &len, "frame ", s->frames[i])) < 0)
                        return r;
        crypto_hash_sha256(s->hash, (const unsigned char *)input, len);
        return 0;
}

void signature_hex(const struct signature *s, char out[65]) {
        for (size_t i = 0; i < 32; i++)
                snprintf(out + 2 * i, 3, "%02x", s->hash[i]);
}
