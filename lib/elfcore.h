/* The ELF64 core that /proc/vmcore presents: program headers that map
 * physical memory to file offsets (PT_LOAD), and a PT_NOTE segment with one
 * NT_PRSTATUS per CPU and the VMCOREINFO note. Pure parsers over buffers, so
 * that each can be fuzzed; lib/vmcore does the I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct elfcore_load {
        uint64_t paddr;
        uint64_t vaddr;
        uint64_t offset;
        uint64_t filesz;
        uint64_t memsz;
};

struct elfcore_headers {
        uint16_t machine;       /* e_machine, EM_X86_64 = 62 */
        uint64_t note_offset;   /* the PT_NOTE segment; note_size 0 if none */
        uint64_t note_size;
        uint32_t n_loads;
        struct elfcore_load *loads;     /* in file order; owned, free with elfcore_headers_done() */
};

/* Bytes of file that must be read to parse the program headers, given the
 * first 64 bytes (the ELF header). Returns the count, or -ENOEXEC for a file
 * that is not ELF, -EPROTONOSUPPORT for ELF that is not a 64-bit
 * little-endian core, -EBADMSG for a malformed header, -E2BIG past
 * ELFCORE_PHNUM_MAX. */
int64_t elfcore_headers_size(const uint8_t *buf, size_t len);

/* Parses the ELF header and program headers from buf[0..len), which must hold
 * elfcore_headers_size() bytes. Returns 0 or the errors above; -ENOMEM. */
int elfcore_parse_headers(const uint8_t *buf, size_t len, struct elfcore_headers *ret);

void elfcore_headers_done(struct elfcore_headers *h);

struct elfcore_note {
        char name[64];
        uint32_t type;
        size_t desc_offset;     /* within the notes buffer */
        size_t desc_size;
};

/* Walks the notes in buf[0..len): calls visit for each; stops early when it
 * returns non-zero and passes that value on. Returns 0 at the end, or -EBADMSG
 * when a note overruns the buffer or has an oversized name (trailing zero
 * padding, as /proc/vmcore has, is accepted). */
int elfcore_notes_walk(const uint8_t *buf, size_t len,
                       int (*visit)(const struct elfcore_note *n, void *userdata), void *userdata);

/* Summary of the notes a dump tool needs. */
struct elfcore_notes_info {
        unsigned n_prstatus;            /* "CORE" NT_PRSTATUS notes: one per CPU that was online */
        bool has_vmcoreinfo;
        size_t vmcoreinfo_offset;       /* within the notes buffer */
        size_t vmcoreinfo_size;
};

int elfcore_notes_info(const uint8_t *buf, size_t len, struct elfcore_notes_info *ret);
