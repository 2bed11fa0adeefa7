#!/usr/bin/python3
"""Writes tests/unit/data/filter-*.kdump: tiny kdump-compressed dumps of a
made-up x86_64 machine with 64 pages, whose page tables, mem_section and
struct pages follow the VMCOREINFO of one kernel layout each (6.1, 6.9, 6.10,
6.12, 6.16, 7.1). test-pagefilter.c checks which pages each dump level leaves
out. Run it again only to change the cases; its output is committed.

Memory map (pfn: what)
  1 PGD, 2 PUD, 3 PMD (a 2 MiB page at physical 0), 4 mem_section roots,
  5 mem_section[0], 6 the 64 struct pages, 16-17 buddy order 1, 18 slab
  (mapping bit 0 set, as slab.slabs aliases it), 19 anonymous, 20 file cache,
  21 file cache with PG_private, 22 swap cache, 24-25 anonymous THP order 1,
  26-27 hugetlb order 1, 28 hwpoison, 29 offline, 32-35 unaccepted (6.16+),
  40 buddy with an impossible order (kept), 44-45 slab compound whose tail
  looks like page cache (kept)."""

import os
import struct
import zlib

PS = 4096
DIRECT = 0xffff888000000000
KTEXT = 0xffffffff80000000
NPAGES = 64
SP = 64  # SIZE(page)

BASE = {
    "SIZE(page)": 64, "OFFSET(page.flags)": 0, "OFFSET(page._refcount)": 52, "OFFSET(page.mapping)": 24,
    "OFFSET(page.lru)": 8, "OFFSET(page._mapcount)": 48, "OFFSET(page.private)": 40,
    "LENGTH(mem_section)": 2048, "SIZE(mem_section)": 16, "OFFSET(mem_section.section_mem_map)": 0,
    "NUMBER(SECTION_SIZE_BITS)": 27, "NUMBER(MAX_PHYSMEM_BITS)": 46, "LENGTH(zone.free_area)": 3,
    "NUMBER(PG_lru)": 4, "NUMBER(PG_private)": 13, "NUMBER(PG_swapcache)": 10, "NUMBER(PG_swapbacked)": 19,
    "NUMBER(PG_head_mask)": 1 << 16, "NUMBER(PG_hwpoison)": 22, "NUMBER(phys_base)": 0,
}
OLD_TYPES = {"NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)": -129, "NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)": -257}
TOP = lambda t: (t << 24) - (1 << 32)  # PGTY_x << 24, as the kernel prints it (negative)
NEW_TYPES = {"NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)": TOP(0xf0), "NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)": TOP(0xf1),
             "NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)": TOP(0xf5), "NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)": TOP(0xf4)}

CASES = {
    # 6.1: PG_slab; hugetlb by compound_dtor in page[1]
    "6.1": dict(BASE, **OLD_TYPES, **{"NUMBER(PG_slab)": 9, "OFFSET(page.compound_head)": 8,
                "OFFSET(page.compound_dtor)": 16, "OFFSET(page.compound_order)": 17,
                "NUMBER(HUGETLB_PAGE_DTOR)": 2}),
    # 6.9: hugetlb is a page type of the head (d99e3140a4d3); order in page[1].flags
    "6.9": dict(BASE, **OLD_TYPES, **{"NUMBER(PG_slab)": 9, "OFFSET(page.compound_head)": 8,
                "NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)": -2049}),
    # 6.10: slab is a page type too (46df8e73a4a3); no PG_slab
    "6.10": dict(BASE, **OLD_TYPES, **{"OFFSET(page.compound_head)": 8,
                 "NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)": -2049, "NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)": -4097}),
    # 6.12: one type per page in the top byte (4ffca5a96678); low bits may carry data
    "6.12": dict(BASE, **NEW_TYPES, **{"OFFSET(page.compound_head)": 8}),
    # 6.16: unaccepted memory (PGTY_unaccepted)
    "6.16": dict(BASE, **NEW_TYPES, **{"OFFSET(page.compound_head)": 8,
                 "NUMBER(PAGE_UNACCEPTED_MAPCOUNT_VALUE)": TOP(0xf7)}),
    # 7.1: compound_head renamed compound_info (d50569612c29)
    "7.1": dict(BASE, **NEW_TYPES, **{"OFFSET(page.compound_info)": 8,
                "NUMBER(PAGE_UNACCEPTED_MAPCOUNT_VALUE)": TOP(0xf7)}),
}


def struct_pages(v):
    pages = [bytearray(SP) for _ in range(NPAGES)]
    for p in pages:
        struct.pack_into("<i", p, 48, -1)
    new = "NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)" in v
    typed = "NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)" in v
    bit = lambda name: 1 << v[f"NUMBER({name})"]
    mc = lambda pfn, val: struct.pack_into("<I", pages[pfn], 48, val & 0xffffffff)
    put = lambda pfn, off, val: struct.pack_into("<Q", pages[pfn], off, val)
    buddy = v["NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)"]
    top = (buddy & 0xffffff) == 0
    mc(16, buddy | (5 if top else 0))  # top-byte types may carry low bits
    put(16, 40, 1)
    mc(17, -1)
    put(18, 24, DIRECT + 0x123401)  # slab: mapping aliased, bit 0 set
    if new:
        mc(18, v["NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)"])
    else:
        put(18, 0, bit("PG_slab"))
    put(19, 24, DIRECT + 0x200001)
    put(20, 0, bit("PG_lru"))
    put(20, 24, DIRECT + 0x300000)
    put(21, 0, bit("PG_lru") | bit("PG_private"))
    put(21, 24, DIRECT + 0x300000)
    put(22, 0, bit("PG_swapcache") | bit("PG_swapbacked"))
    for head, hugetlb in ((24, False), (26, True)):
        put(head, 0, v["NUMBER(PG_head_mask)"])
        put(head, 24, DIRECT + (0x400000 if hugetlb else 0x200001))
        put(head + 1, 8, DIRECT + 0x6000 + head * SP + 1)  # tail: compound_head | 1
        if typed:
            put(head + 1, 0, 1)  # folio order in page[1].flags' low byte
            if hugetlb:
                mc(head, v["NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)"])
        else:
            pages[head + 1][17] = 1
            pages[head + 1][16] = 2 if hugetlb else 1
    # A kept compound page (slab) whose tail's flags (folio->_flags_1) carry
    # PG_lru: only the tail marker keeps the tail from reading as page cache.
    put(44, 0, v["NUMBER(PG_head_mask)"] | (0 if new else bit("PG_slab")))
    if new:
        mc(44, v["NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)"])
    put(45, 0, bit("PG_lru") | (1 if typed else 0))
    put(45, 8, DIRECT + 0x6000 + 44 * SP + 1)
    put(45, 24, DIRECT + 0x300000)
    put(28, 0, bit("PG_hwpoison"))
    mc(29, v["NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)"])
    if "NUMBER(PAGE_UNACCEPTED_MAPCOUNT_VALUE)" in v:
        mc(32, v["NUMBER(PAGE_UNACCEPTED_MAPCOUNT_VALUE)"])
    mc(40, buddy)
    put(40, 40, 99)
    return b"".join(pages)


def memory(v):
    mem = [bytes(PS)] * NPAGES
    pt = lambda entries: b"".join(struct.pack("<Q", entries.get(i, 0)) for i in range(512))
    mem[1] = pt({(DIRECT >> 39) & 511: 0x2000 | 3})
    mem[2] = pt({0: 0x3000 | 3})
    mem[3] = pt({0: 0x0 | 0x83})
    mem[4] = struct.pack("<Q", DIRECT + 0x5000).ljust(PS, b"\0")
    mem[5] = struct.pack("<QQ", (DIRECT + 0x6000) | 1, 0).ljust(PS, b"\0")
    mem[6] = struct_pages_safe(v)
    for pfn in (16, 17, 18, 19, 20, 21, 22, 24, 25, 26, 27, 28, 29, 32, 33, 34, 35, 40, 44, 45):
        mem[pfn] = bytes([pfn]) * PS
    return mem


def vmcoreinfo(v):
    lines = ["OSRELEASE=synthetic", f"PAGESIZE={PS}", f"SYMBOL(init_top_pgt)={KTEXT + 0x1000:x}",
             f"SYMBOL(mem_section)={DIRECT + 0x4000:x}"]
    lines += [f"{k}={val}" for k, val in v.items()]
    return ("\n".join(lines) + "\n").encode()


def note(name, typ, desc):
    n = name.encode() + b"\0"
    pad = lambda b: b + b"\0" * (-len(b) % 4)
    return struct.pack("<III", len(n), len(desc), typ) + pad(n) + pad(desc)


def kdump(v):
    vi = vmcoreinfo(v)
    notes = note("CORE", 1, bytes(336)) + note("VMCOREINFO", 0, vi)
    hdr = bytearray(464)
    hdr[0:8] = b"KDUMP   "
    struct.pack_into("<i", hdr, 8, 6)
    for i, f in enumerate([b"Linux", b"synthetic", b"synthetic", b"#1", b"x86_64", b""]):
        hdr[12 + 65 * i:12 + 65 * i + len(f)] = f
    struct.pack_into("<IiiIIIIIIi", hdr, 424, 1, PS, 1, 2, NPAGES, 0, 0, 0, 0, 1)
    note_off = PS + 104
    sub = struct.pack("<QiiQQQQQQQQQQQ", 0, 0, 0, 0, NPAGES, note_off + notes.index(b"OSRELEASE"), len(vi),
                      note_off, len(notes), 0, 0, 0, NPAGES, NPAGES)
    bm = (b"\xff" * (NPAGES // 8)).ljust(PS, b"\0")
    body = bytes(hdr).ljust(PS, b"\0") + (sub + notes).ljust(PS, b"\0") + bm + bm
    data_off = len(body) + 24 * NPAGES
    descs, data = b"", b""
    for page in memory(v):
        z = zlib.compress(page, 1)
        descs += struct.pack("<qIIQ", data_off + len(data), len(z), 1, 0)
        data += z
    return body + descs + data


# A VMCOREINFO that lacks PG_lru: levels 2 and 4 must be refused, naming it.
CASES["no-lru"] = {k: val for k, val in CASES["6.12"].items() if k != "NUMBER(PG_lru)"}


def struct_pages_safe(v):
    return struct_pages(dict(v, **{"NUMBER(PG_lru)": v.get("NUMBER(PG_lru)", 4)}))


if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
    for name, v in CASES.items():
        with open(os.path.join(out, f"filter-{name}.kdump"), "wb") as f:
            f.write(kdump(v))
