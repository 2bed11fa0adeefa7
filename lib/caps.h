/* Every size that comes from outside kdumpkit has a named cap, here. A value
 * over its cap is malformed input, reported as such, never truncated. */
#pragma once

/* ELF vmcore headers. /proc/vmcore has one PT_LOAD per RAM range plus the
 * kernel text and one PT_NOTE; 64 Ki program headers is far beyond any real
 * machine's memory map. */
#define ELFCORE_PHNUM_MAX 65536u
/* The whole PT_NOTE segment: one NT_PRSTATUS (336 bytes) per CPU, VMCOREINFO,
 * and vmcoredd device dumps. 8192 CPUs need under 3 MiB. */
#define ELFCORE_NOTES_MAX (64u << 20)
/* One note's name. "VMCOREINFO" and "CORE" are the ones we read. */
#define ELFCORE_NOTE_NAME_MAX 64u

/* VMCOREINFO text: the kernel allots VMCOREINFO_BYTES (one 4 KiB page); newer
 * kernels with kallsyms tables stay under that, so 64 KiB is generous. */
#define VMCOREINFO_MAX (64u << 10)
/* makedumpfile reads lines of up to 1500 bytes; the same here. */
#define VMCOREINFO_LINE_MAX 1500u
#define VMCOREINFO_ENTRIES_MAX 4096u

/* SIZE(page) from VMCOREINFO: 64 bytes on x86_64, 80 with debug options;
 * a struct page of over 256 bytes is a damaged VMCOREINFO. */
#define STRUCT_PAGE_SIZE_MAX 256u
/* SIZE(mem_section): 16 bytes since 5.x (section_mem_map, usage). */
#define MEM_SECTION_SIZE_MAX 256u

/* One record of a flattened stream: makedumpfile writes at most a few MiB
 * (a cycle's bitmap, a buffer of page data); 256 MiB is far beyond that. */
#define FLAT_RECORD_MAX (256u << 20)
/* The destination offset of a record: a dump of 64 TiB of RAM is the most
 * any machine we capture will need. */
#define FLAT_OFFSET_MAX (1ull << 46)

/* --num-threads: makedumpfile allows up to 128; more threads than that only
 * add memory (each holds its jobs' pages). */
#define DUMP_THREADS_MAX 128u

/* A kdump-compressed input: max_mapnr up to 2^40 pfns (4 PiB of 4 KiB
 * pages); the notes as ELFCORE_NOTES_MAX; the runs of dumped pages that
 * become ranges, 16 Mi of them (512 MiB of range table would be absurd). */
#define KDUMP_MAPNR_MAX (1ull << 40)
#define KDUMP_RANGES_MAX (16u << 20)

/* The printk ring: CONFIG_LOG_BUF_SHIFT is at most 25 (32 MiB), and
 * log_buf_len= rounds to a power of two; 1 GiB of text and 2^25
 * descriptors are past any real kernel. */
#define PRINTK_TEXT_MAX (1ull << 30)
#define PRINTK_DESCS_MAX (1ull << 25)
/* A struct in the ring, as VMCOREINFO sizes it (printk_info is 88 bytes). */
#define PRINTK_STRUCT_MAX 4096

/* The crash signature: a log of more than 64 MiB is read from its end (the
 * panic is there); a line longer than 1 KiB is cut where the signature keeps
 * it; a frame's name (KSYM_NAME_LEN is 512 since 6.1) and a module's name
 * (MODULE_NAME_LEN is 56) past these are no frame. */
#define SIGNATURE_LOG_MAX (64u << 20)
#define LOG_LINE_PARSE_MAX 1024
#define FRAME_NAME_MAX 512
#define MODULE_NAME_FIELD_MAX 64

/* kallsyms through VMCOREINFO: Debian's kernels have about 200,000 symbols
 * and 2 MiB of compressed names; a table past these caps is damaged. */
#define KALLSYMS_SYMS_MAX (1u << 22)
#define KALLSYMS_NAMES_MAX (64u << 20)
/* struct module list entries walked from &modules. */
#define MODULES_MAX 8192
