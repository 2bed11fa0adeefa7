/* The kdump-compressed reader. */
#include <endian.h>
#include <errno.h>
#include <stdio.h>

#include "caps.h"
#include "cleanup.h"
#include "codec.h"
#include "io.h"
#include "kdumpformat.h"
#include "kdumpread.h"

#define RANK_PFNS 4096u
#define DESC_CACHE 512u
#define KDUMP_FLAG_SNAPPY 0x04u

struct kdump_reader {
        int fd;
        uint64_t file_size;
        struct kdump_info info;
        uint64_t bitmap_offset[2];      /* file offsets of the two bitmaps */
        uint64_t bitmap_bytes;
        uint64_t desc_offset;
        uint64_t *rank;                 /* dumped pages before each RANK_PFNS block */
        uint8_t block_bits[RANK_PFNS / 8];
        uint64_t block_cached;          /* the block in block_bits, or UINT64_MAX */
        struct page_desc descs[DESC_CACHE];
        uint64_t descs_first, descs_count;
        struct codec *codec;
        uint8_t *data;
};

DEFINE_CLEANUP_FUNC(struct kdump_reader, kdump_reader_free);

struct kdump_reader *kdump_reader_free(struct kdump_reader *r) {
        if (!r)
                return NULL;
        codec_free(r->codec);
        free(r->rank);
        free(r->data);
        free(r);
        return NULL;
}

const struct kdump_info *kdump_reader_info(const struct kdump_reader *r) {
        return &r->info;
}

static int check_header(struct kdump_reader *r, const struct disk_dump_header *h, const struct kdump_sub_header *s,
                        char *why, size_t why_len) {
        struct kdump_info *i = &r->info;
        uint64_t block = (uint32_t)le32toh((uint32_t)h->block_size), sub_blocks = (uint32_t)le32toh((uint32_t)h->sub_hdr_size);

        i->header_version = le32toh((uint32_t)h->header_version);
        if (i->header_version < 4 || i->header_version > 6) {
                snprintf(why, why_len, "kdump header version %u; dumptool reads versions 4 to 6", i->header_version);
                return -EPROTONOSUPPORT;
        }
        if (block < 512 || block > (1u << 20) || (block & (block - 1))) {
                snprintf(why, why_len, "kdump block size %llu is not a page size", (unsigned long long)block);
                return -EBADMSG;
        }
        i->block_size = (uint32_t)block;
        i->status = le32toh(h->status);
        i->dump_level = (int32_t)le32toh((uint32_t)s->dump_level);
        i->phys_base = le64toh(s->phys_base);
        i->max_mapnr = i->header_version >= 6 ? le64toh(s->max_mapnr_64) : le32toh(h->max_mapnr);
        i->note_offset = le64toh(s->offset_note);
        i->note_size = le64toh(s->size_note);
        if (le32toh((uint32_t)s->split)) {
                snprintf(why, why_len, "one part of a split kdump file (--split); reassemble it first");
                return -EPROTONOSUPPORT;
        }
        if (i->max_mapnr == 0 || i->max_mapnr > KDUMP_MAPNR_MAX) {
                snprintf(why, why_len, "kdump max_mapnr %llu is out of range", (unsigned long long)i->max_mapnr);
                return -EBADMSG;
        }
        r->bitmap_bytes = (uint64_t)le32toh(h->bitmap_blocks) * block / 2;
        if (r->bitmap_bytes < (i->max_mapnr + 7) / 8 || sub_blocks > 1024) {
                snprintf(why, why_len, "kdump bitmaps (%u blocks) too small for %llu pfns", le32toh(h->bitmap_blocks),
                         (unsigned long long)i->max_mapnr);
                return -EBADMSG;
        }
        r->bitmap_offset[0] = (1 + sub_blocks) * block;
        r->bitmap_offset[1] = r->bitmap_offset[0] + r->bitmap_bytes;
        r->desc_offset = r->bitmap_offset[1] + r->bitmap_bytes;
        if (r->desc_offset > r->file_size) {
                snprintf(why, why_len, "the file ends inside its bitmaps; it is truncated");
                return -EIO;
        }
        if (i->note_size > ELFCORE_NOTES_MAX || i->note_offset > r->file_size ||
            i->note_size > r->file_size - i->note_offset) {
                snprintf(why, why_len, "kdump notes (%llu bytes at %llu) lie outside the file",
                         (unsigned long long)i->note_size, (unsigned long long)i->note_offset);
                return -EBADMSG;
        }
        for (int f = 0; f < 6; f++) {
                memcpy(i->utsname[f], h->utsname[f], UTS_FIELD_SIZE);
                i->utsname[f][UTS_FIELD_SIZE - 1] = 0;
        }
        return 0;
}

static enum codec_kind codec_of(uint32_t status) {
        return status & KDUMP_FLAG_ZSTD ? CODEC_ZSTD : status & KDUMP_FLAG_LZO ? CODEC_LZO : CODEC_ZLIB;
}

/* One pass over the second bitmap: the rank table and the page count. */
static int build_rank(struct kdump_reader *r) {
        uint64_t blocks = (r->info.max_mapnr + RANK_PFNS - 1) / RANK_PFNS, total = 0;
        uint8_t bits[RANK_PFNS / 8];

        r->rank = calloc(blocks + 1, sizeof(*r->rank));
        if (!r->rank)
                return -ENOMEM;
        for (uint64_t b = 0; b < blocks; b++) {
                int ret = pread_exact(r->fd, bits, sizeof(bits), r->bitmap_offset[1] + b * sizeof(bits));

                if (ret < 0)
                        return ret;
                r->rank[b] = total;
                for (size_t i = 0; i < sizeof(bits); i++)
                        total += (uint64_t)__builtin_popcount(bits[i]);
        }
        r->rank[blocks] = total;
        r->info.dumped_pages = total;
        if (r->desc_offset + total * sizeof(struct page_desc) > r->file_size)
                return -EIO;
        return 0;
}

int kdump_reader_open(int fd, uint64_t file_size, struct kdump_reader **ret, char *why, size_t why_len) {
        _cleanup_(kdump_reader_freep) struct kdump_reader *r = calloc(1, sizeof(*r));
        struct disk_dump_header h;
        struct kdump_sub_header s;
        int e;

        if (!r)
                return -ENOMEM;
        r->fd = fd;
        r->file_size = file_size;
        r->block_cached = UINT64_MAX;
        if (pread_exact(fd, &h, sizeof(h), 0) < 0) {
                snprintf(why, why_len, "the file ends inside the kdump header; it is truncated");
                return -EIO;
        }
        if (memcmp(h.signature, KDUMP_SIGNATURE, sizeof(h.signature)) != 0) {
                snprintf(why, why_len, "not a kdump-compressed file");
                return -EBADMSG;
        }
        e = (uint32_t)le32toh((uint32_t)h.block_size) < sizeof(h) || (uint32_t)le32toh((uint32_t)h.block_size) > (1u << 20)
                    ? -EBADMSG
                    : pread_exact(fd, &s, sizeof(s), (uint32_t)le32toh((uint32_t)h.block_size));
        if (e < 0) {
                snprintf(why, why_len, "the kdump sub header is missing or out of place");
                return -EBADMSG;
        }
        if ((e = check_header(r, &h, &s, why, why_len)) < 0)
                return e;
        if (r->info.status & KDUMP_FLAG_SNAPPY) {
                snprintf(why, why_len, "snappy-compressed pages; dumptool reads zlib, lzo and zstd");
                return -EPROTONOSUPPORT;
        }
        if ((e = build_rank(r)) < 0) {
                if (e == -EIO)
                        snprintf(why, why_len, "the file ends inside its page descriptors; it is truncated");
                else
                        snprintf(why, why_len, "reading the bitmaps: %s", strerror(-e));
                return e;
        }
        if ((e = codec_new(codec_of(r->info.status), r->info.block_size, &r->codec)) < 0 ||
            !(r->data = malloc(r->info.block_size)))
                return e < 0 ? e : -ENOMEM;
        *ret = TAKE_PTR(r);
        return 0;
}

int kdump_reader_bitmap(struct kdump_reader *r, int which, uint64_t from, uint8_t *buf, size_t len) {
        if (which < 0 || which > 1 || from > r->bitmap_bytes || len > r->bitmap_bytes - from)
                return -EINVAL;
        return pread_exact(r->fd, buf, len, r->bitmap_offset[which] + from);
}

/* The index of pfn's descriptor, or -ENOENT when it is not dumped. */
static int desc_index(struct kdump_reader *r, uint64_t pfn, uint64_t *ret) {
        uint64_t block = pfn / RANK_PFNS, in = pfn % RANK_PFNS, n;
        int e;

        if (pfn >= r->info.max_mapnr)
                return -ENOENT;
        if (r->block_cached != block) {
                e = pread_exact(r->fd, r->block_bits, sizeof(r->block_bits), r->bitmap_offset[1] + block * sizeof(r->block_bits));
                if (e < 0)
                        return e;
                r->block_cached = block;
        }
        if (!(r->block_bits[in / 8] & (1u << (in % 8))))
                return -ENOENT;
        n = r->rank[block];
        for (uint64_t i = 0; i < in / 8; i++)
                n += (uint64_t)__builtin_popcount(r->block_bits[i]);
        n += (uint64_t)__builtin_popcount(r->block_bits[in / 8] & ((1u << (in % 8)) - 1));
        *ret = n;
        return 0;
}

static int read_desc(struct kdump_reader *r, uint64_t index, struct page_desc *ret) {
        if (index < r->descs_first || index >= r->descs_first + r->descs_count) {
                uint64_t n = r->info.dumped_pages - index < DESC_CACHE ? r->info.dumped_pages - index : DESC_CACHE;
                int e = pread_exact(r->fd, r->descs, n * sizeof(struct page_desc),
                                    r->desc_offset + index * sizeof(struct page_desc));

                if (e < 0)
                        return e;
                r->descs_first = index;
                r->descs_count = n;
        }
        *ret = r->descs[index - r->descs_first];
        return 0;
}

int kdump_reader_page(struct kdump_reader *r, uint64_t pfn, uint8_t *buf) {
        struct page_desc d;
        uint64_t index, offset;
        uint32_t size, flags;
        int e;

        if ((e = desc_index(r, pfn, &index)) < 0 || (e = read_desc(r, index, &d)) < 0)
                return e;
        offset = le64toh((uint64_t)d.offset);
        size = le32toh(d.size);
        flags = le32toh(d.flags);
        if (size == 0 || size > r->info.block_size || offset > r->file_size || size > r->file_size - offset)
                return -EBADMSG;
        if (flags == 0) {
                if (size != r->info.block_size)
                        return -EBADMSG;
                return pread_exact(r->fd, buf, size, offset);
        }
        if ((flags & ~(KDUMP_FLAG_ZLIB | KDUMP_FLAG_LZO | KDUMP_FLAG_ZSTD)) || __builtin_popcount(flags) != 1)
                return -EBADMSG;
        if ((e = pread_exact(r->fd, r->data, size, offset)) < 0)
                return e;
        return codec_decompress(r->codec, flags, r->data, size, buf);
}
