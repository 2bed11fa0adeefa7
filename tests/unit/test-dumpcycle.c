/* lib/dumpcycle: the valid and dumpable bitmaps of a cycle, over a made-up
 * vmcore whose loads start and end inside bytes of the bitmap, against a
 * bit-by-bit reckoning. */
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "cleanup.h"
#include "dumpcycle.h"
#include "harness.h"
#include "io.h"

#define PAGE 4096u

DEFINE_CLEANUP_FUNC(struct vmcore, vmcore_free);

/* [start, start + filesz) has data and [start, start + memsz) is RAM, in pfns. */
struct load {
        uint64_t start, filesz, memsz;
};

/* Ends on every bit of a byte, a load of one pfn, one of whole bytes, RAM
 * without data past the file's part, and one long enough for memset. */
static const struct load loads[] = {
        { 1, 0x9e, 0x9e },
        { 0x100, 13, 13 },
        { 0x115, 1, 1 },
        { 0x118, 16, 16 },
        { 0x131, 20, 37 },
        { 0x200, 3000, 3001 },
};
#define N_LOADS (sizeof(loads) / sizeof(loads[0]))

static void write_vmcore(const char *path) {
        static const char info[] = "PAGESIZE=4096\n";
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        uint8_t head[2 * PAGE] = {};
        Elf64_Ehdr eh = { .e_type = ET_CORE, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
                          .e_phoff = sizeof(Elf64_Ehdr), .e_ehsize = sizeof(Elf64_Ehdr),
                          .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 1 + N_LOADS };
        Elf64_Nhdr nh = { .n_namesz = 11, .n_descsz = sizeof(info) - 1, .n_type = 0 };
        Elf64_Phdr note = { .p_type = PT_NOTE, .p_offset = PAGE,
                            .p_filesz = sizeof(nh) + 12 + ((sizeof(info) - 1 + 3) & ~3u) };
        uint64_t at = 2 * PAGE;

        ASSERT_TRUE(fd >= 0);
        memcpy(eh.e_ident, ELFMAG, SELFMAG);
        eh.e_ident[EI_CLASS] = ELFCLASS64;
        eh.e_ident[EI_DATA] = ELFDATA2LSB;
        eh.e_ident[EI_VERSION] = EV_CURRENT;
        memcpy(head, &eh, sizeof(eh));
        memcpy(head + sizeof(eh), &note, sizeof(note));
        for (size_t i = 0; i < N_LOADS; i++) {
                Elf64_Phdr load = { .p_type = PT_LOAD, .p_offset = at, .p_paddr = loads[i].start * PAGE,
                                    .p_vaddr = 0xffff888000000000ull + loads[i].start * PAGE,
                                    .p_filesz = loads[i].filesz * PAGE, .p_memsz = loads[i].memsz * PAGE };

                memcpy(head + sizeof(eh) + (1 + i) * sizeof(load), &load, sizeof(load));
                at += load.p_filesz;
        }
        memcpy(head + PAGE, &nh, sizeof(nh));
        memcpy(head + PAGE + sizeof(nh), "VMCOREINFO", 11);
        memcpy(head + PAGE + sizeof(nh) + 12, info, sizeof(info) - 1);
        ASSERT_EQ_INT(pwrite_full(fd, head, sizeof(head), 0), 0);
        ASSERT_EQ_INT(ftruncate(fd, (off_t)at), 0);
}

static bool in_load(uint64_t pfn, bool data) {
        for (size_t i = 0; i < N_LOADS; i++)
                if (pfn >= loads[i].start && pfn < loads[i].start + (data ? loads[i].filesz : loads[i].memsz))
                        return true;
        return false;
}

static bool bit(const uint8_t *bm, uint64_t i) {
        return bm[i / 8] & (1u << (i % 8));
}

/* Cycles at several bases (each a multiple of 8, as the writers' are), so
 * that loads are cut at a cycle's start and end too. */
TEST(bitmaps_match_loads) {
        static const uint64_t bases[] = { 0, 8, 0x110, 0x130, 0x208 };
        _cleanup_(cycle_buffers_done) struct cycle_buffers b = {};
        _cleanup_(vmcore_freep) struct vmcore *v = NULL;
        char path[4096], why[256];

        snprintf(path, sizeof(path), "%s/vmcore", harness_tmpdir());
        write_vmcore(path);
        ASSERT_EQ_INT(vmcore_open(path, &v, why, sizeof(why)), 0);
        ASSERT_EQ_INT(cycle_buffers_init(&b), 0);
        for (size_t k = 0; k < sizeof(bases) / sizeof(bases[0]); k++)
                for (uint64_t len = 1; len < 4000; len = len * 3 + 1) {
                        uint64_t base = bases[k], end = base + len, data, count, want_data = 0;

                        ASSERT_EQ_INT(cycle_bitmaps(v, NULL, base, end, b.valid, b.dumpable, NULL, &data, &count), 0);
                        for (uint64_t pfn = base; pfn < base + CYCLE_PFNS; pfn++) {
                                bool ram = pfn < end && in_load(pfn, false), has = pfn < end && in_load(pfn, true);

                                want_data += has;
                                if (bit(b.valid, pfn - base) != ram || bit(b.dumpable, pfn - base) != has)
                                        harness_fail(__FILE__, __LINE__, "cycle [%#llx, %#llx): pfn %#llx: valid %d dumpable %d",
                                                     (unsigned long long)base, (unsigned long long)end,
                                                     (unsigned long long)pfn, bit(b.valid, pfn - base),
                                                     bit(b.dumpable, pfn - base));
                        }
                        ASSERT_EQ_U64(data, want_data);
                        ASSERT_EQ_U64(count, want_data);
                }
}
