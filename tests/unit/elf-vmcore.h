/* The headers of a made-up ELF vmcore for the unit tests (test-dumper,
 * test-kvaddr): one PT_NOTE holding VMCOREINFO at 4 KiB, and one PT_LOAD of
 * physical 0 whose data starts at ELF_VMCORE_LOAD_AT in the file. */
#pragma once

#include <elf.h>
#include <string.h>

#include "harness.h"
#include "io.h"

#define ELF_VMCORE_NOTE_AT 4096u
#define ELF_VMCORE_LOAD_AT 8192u

static inline void elf_vmcore_put(uint8_t *buf, size_t at, const void *v, size_t n) {
        memcpy(buf + at, v, n);
}

/* Writes the headers into fd; info is VMCOREINFO's text (under 4 KiB). */
static inline void elf_vmcore_headers(int fd, const char *info, uint64_t load_size) {
        static uint8_t head[ELF_VMCORE_LOAD_AT];
        size_t n = strlen(info);
        Elf64_Ehdr eh = { .e_type = ET_CORE, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
                          .e_phoff = sizeof(Elf64_Ehdr), .e_ehsize = sizeof(Elf64_Ehdr),
                          .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 2 };
        Elf64_Nhdr nh = { .n_namesz = 11, .n_descsz = (Elf64_Word)n, .n_type = 0 };
        Elf64_Phdr note = { .p_type = PT_NOTE, .p_offset = ELF_VMCORE_NOTE_AT,
                            .p_filesz = sizeof(nh) + 12 + ((n + 3) & ~(size_t)3) };
        Elf64_Phdr load = { .p_type = PT_LOAD, .p_offset = ELF_VMCORE_LOAD_AT, .p_paddr = 0,
                            .p_vaddr = 0xffff888000000000ull, .p_filesz = load_size, .p_memsz = load_size };

        ASSERT_TRUE(n + sizeof(nh) + 12 <= ELF_VMCORE_LOAD_AT - ELF_VMCORE_NOTE_AT);
        memset(head, 0, sizeof(head));
        memcpy(eh.e_ident, ELFMAG, SELFMAG);
        eh.e_ident[EI_CLASS] = ELFCLASS64;
        eh.e_ident[EI_DATA] = ELFDATA2LSB;
        eh.e_ident[EI_VERSION] = EV_CURRENT;
        elf_vmcore_put(head, 0, &eh, sizeof(eh));
        elf_vmcore_put(head, sizeof(eh), &note, sizeof(note));
        elf_vmcore_put(head, sizeof(eh) + sizeof(note), &load, sizeof(load));
        elf_vmcore_put(head, ELF_VMCORE_NOTE_AT, &nh, sizeof(nh));
        elf_vmcore_put(head, ELF_VMCORE_NOTE_AT + sizeof(nh), "VMCOREINFO", 11);
        elf_vmcore_put(head, ELF_VMCORE_NOTE_AT + sizeof(nh) + 12, info, n);
        ASSERT_EQ_INT(pwrite_full(fd, head, sizeof(head), 0), 0);
}
