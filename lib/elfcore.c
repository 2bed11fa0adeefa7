/* ELF64 core headers and notes. */
#include <elf.h>
#include <errno.h>

#include "caps.h"
#include "elfcore.h"
#include "unaligned.h"

/* The kernel's /proc/vmcore names its VMCOREINFO note "VMCOREINFO" with
 * type 0 (include/linux/crash_core.h, VMCOREINFO_NOTE_NAME). */
#define NOTE_VMCOREINFO_NAME "VMCOREINFO"

static int check_ident(const uint8_t *buf, size_t len) {
        if (len < SELFMAG || memcmp(buf, ELFMAG, SELFMAG) != 0)
                return -ENOEXEC;
        if (len < sizeof(Elf64_Ehdr))
                return -EBADMSG;
        if (buf[EI_CLASS] != ELFCLASS64 || buf[EI_DATA] != ELFDATA2LSB || le16(buf + 16) != ET_CORE)
                return -EPROTONOSUPPORT;
        return 0;
}

int64_t elfcore_headers_size(const uint8_t *buf, size_t len) {
        uint64_t phoff, phnum;
        int r = check_ident(buf, len);

        if (r < 0)
                return r;
        phoff = le64(buf + offsetof(Elf64_Ehdr, e_phoff));
        phnum = le16(buf + offsetof(Elf64_Ehdr, e_phnum));
        if (le16(buf + offsetof(Elf64_Ehdr, e_phentsize)) != sizeof(Elf64_Phdr) || phnum == 0)
                return -EBADMSG;
        /* PN_XNUM: the real count lives in section 0's sh_info; vmcores never need it. */
        if (phnum == PN_XNUM || phnum > ELFCORE_PHNUM_MAX)
                return -E2BIG;
        if (phoff < sizeof(Elf64_Ehdr) || phoff > ELFCORE_PHNUM_MAX * sizeof(Elf64_Phdr))
                return -EBADMSG;
        return (int64_t)(phoff + phnum * sizeof(Elf64_Phdr));
}

static void parse_load(const uint8_t *ph, struct elfcore_load *l) {
        l->offset = le64(ph + offsetof(Elf64_Phdr, p_offset));
        l->vaddr = le64(ph + offsetof(Elf64_Phdr, p_vaddr));
        l->paddr = le64(ph + offsetof(Elf64_Phdr, p_paddr));
        l->filesz = le64(ph + offsetof(Elf64_Phdr, p_filesz));
        l->memsz = le64(ph + offsetof(Elf64_Phdr, p_memsz));
}

static bool load_overflows(const struct elfcore_load *l) {
        return l->offset + l->filesz < l->offset || l->paddr + l->memsz < l->paddr || l->filesz > l->memsz;
}

int elfcore_parse_headers(const uint8_t *buf, size_t len, struct elfcore_headers *ret) {
        struct elfcore_headers h = {};
        int64_t need = elfcore_headers_size(buf, len);
        uint64_t phoff;
        unsigned phnum;

        if (need < 0)
                return (int)need;
        if ((uint64_t)need > len)
                return -EBADMSG;
        phoff = le64(buf + offsetof(Elf64_Ehdr, e_phoff));
        phnum = le16(buf + offsetof(Elf64_Ehdr, e_phnum));
        h.machine = le16(buf + offsetof(Elf64_Ehdr, e_machine));
        h.loads = calloc(phnum, sizeof(*h.loads));
        if (!h.loads)
                return -ENOMEM;
        for (unsigned i = 0; i < phnum; i++) {
                const uint8_t *ph = buf + phoff + (size_t)i * sizeof(Elf64_Phdr);
                uint32_t type = le32(ph);
                struct elfcore_load l;

                parse_load(ph, &l);
                if (type == PT_NOTE && h.note_size == 0) {
                        h.note_offset = l.offset;
                        h.note_size = l.filesz;
                } else if (type == PT_LOAD) {
                        if (load_overflows(&l)) {
                                free(h.loads);
                                return -EBADMSG;
                        }
                        h.loads[h.n_loads++] = l;
                }
        }
        if (h.note_size > ELFCORE_NOTES_MAX || h.note_offset + h.note_size < h.note_offset) {
                free(h.loads);
                return -E2BIG;
        }
        *ret = h;
        return 0;
}

void elfcore_headers_done(struct elfcore_headers *h) {
        free(h->loads);
        *h = (struct elfcore_headers) {};
}

static size_t align4(size_t n) {
        return (n + 3) & ~(size_t)3;
}

static bool all_zero(const uint8_t *p, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (p[i])
                        return false;
        return true;
}

int elfcore_notes_walk(const uint8_t *buf, size_t len,
                       int (*visit)(const struct elfcore_note *n, void *userdata), void *userdata) {
        size_t pos = 0;
        int r;

        while (pos + 12 <= len) {
                struct elfcore_note n = {};
                uint32_t namesz = le32(buf + pos), descsz = le32(buf + pos + 4);
                size_t name_at = pos + 12, desc_at;

                /* /proc/vmcore pads the segment with zeros after the last note. */
                if (namesz == 0 && descsz == 0 && all_zero(buf + pos, len - pos))
                        return 0;
                if (namesz == 0 || namesz > ELFCORE_NOTE_NAME_MAX || align4(namesz) > len - name_at)
                        return -EBADMSG;
                desc_at = name_at + align4(namesz);
                if (descsz > len - desc_at)
                        return -EBADMSG;
                memcpy(n.name, buf + name_at, namesz);
                n.name[namesz < sizeof(n.name) ? namesz : sizeof(n.name) - 1] = 0;
                n.type = le32(buf + pos + 8);
                n.desc_offset = desc_at;
                n.desc_size = descsz;
                r = visit(&n, userdata);
                if (r)
                        return r;
                if (align4(descsz) > len - desc_at)
                        return 0; /* the last note's padding may be cut */
                pos = desc_at + align4(descsz);
        }
        return pos == len || all_zero(buf + pos, len - pos) ? 0 : -EBADMSG;
}

static int count_note(const struct elfcore_note *n, void *userdata) {
        struct elfcore_notes_info *info = userdata;

        if (strcmp(n->name, "CORE") == 0 && n->type == NT_PRSTATUS)
                info->n_prstatus++;
        else if (strcmp(n->name, NOTE_VMCOREINFO_NAME) == 0 && !info->has_vmcoreinfo) {
                info->has_vmcoreinfo = true;
                info->vmcoreinfo_offset = n->desc_offset;
                info->vmcoreinfo_size = n->desc_size;
        }
        return 0;
}

int elfcore_notes_info(const uint8_t *buf, size_t len, struct elfcore_notes_info *ret) {
        struct elfcore_notes_info info = {};
        int r = elfcore_notes_walk(buf, len, count_note, &info);

        if (r < 0)
                return r;
        *ret = info;
        return 0;
}
