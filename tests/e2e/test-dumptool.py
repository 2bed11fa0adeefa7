#!/usr/bin/python3
"""dumptool on the lab's real vmcores (meson test --suite e2e).

  test-dumptool.py kdump SUITE | parity | filter | flattened | bad-input | signature SUITE | degraded SUITE ..."""

import json
import os
import re
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kdlab import check, kernels  # noqa: E402
from kdlab.check import elf_segments  # noqa: E402
from kdlab.guest import RunConfig, crash_cycle  # noqa: E402
from kdlab.kdumpfile import KdumpFile, drop_pages, vmcore_pages  # noqa: E402
from kdlab.util import LabError, test_main  # noqa: E402

LAB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lab")
RUNS = os.environ["KDLAB_RUNS"]
DUMPTOOL = os.environ["KDLAB_DUMPTOOL"]
WORK = os.path.join(RUNS, "dumptool")


def shared_vmcore(suite):
    p = subprocess.run([LAB, "vmcore", suite, "--dir", os.path.join(RUNS, suite)], stdout=subprocess.PIPE)
    if p.returncode:
        raise LabError(f"no {suite} vmcore")
    return p.stdout.decode().strip()


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def dumptool(*args, expect=0):
    p = run([DUMPTOOL, *args])
    if p.returncode != expect:
        raise LabError(f"dumptool {' '.join(args)} exited {p.returncode}: {p.stderr.decode().strip()}")
    return p


def makedumpfile(*args):
    p = run(["makedumpfile", *args])
    if p.returncode:
        raise LabError(f"makedumpfile {' '.join(args)} exited {p.returncode}")


def fresh(name):
    os.makedirs(WORK, exist_ok=True)
    path = os.path.join(WORK, name)
    for p in (path, path + "-incomplete"):
        if os.path.exists(p):
            os.unlink(p)
    return path


def check_contents(dump, vmcore):
    """Every dumped page equals the source page (an independent reader)."""
    read = vmcore_pages(vmcore)
    n = 0
    for pfn, data in KdumpFile(dump).pages():
        if data != read(pfn):
            raise LabError(f"{dump}: pfn {pfn:#x} differs from the vmcore")
        n += 1
    return n


def test_kdump(suite):
    k = kernels.kernel(suite)
    vmcore = shared_vmcore(suite)
    for codec in ("-c", "-l", "-z"):
        for level in ("0", "1"):
            ours, theirs = fresh(f"{suite}{codec}-d{level}"), fresh(f"{suite}{codec}-d{level}.mdf")
            dumptool(codec, "-d", level, vmcore, ours)
            makedumpfile(codec, "-d", level, vmcore, theirs)
            a, b = KdumpFile(ours), KdumpFile(theirs)
            if a.bitmap1 != b.bitmap1 or a.bitmap2 != b.bitmap2:
                raise LabError(f"{suite} {codec} -d {level}: bitmaps differ from makedumpfile's")
            # Each codec's pages come from a different encoder than
            # makedumpfile's (libdeflate, lib/lzoenc, zstd's own frames):
            # the files compare by bitmaps, size and content, not bytes.
            ratio = os.path.getsize(ours) / os.path.getsize(theirs)
            if codec != "-z" and ratio > 1.02:
                raise LabError(f"{suite} {codec} -d {level}: {ratio:.3f}x makedumpfile's size")
            os.unlink(theirs)
            threaded = fresh(f"{suite}{codec}-d{level}.t2")
            dumptool(codec, "-d", level, "--num-threads", "2", vmcore, threaded)
            if not same_file(ours, threaded):
                raise LabError(f"{suite} {codec} -d {level}: --num-threads 2 wrote a different file")
            os.unlink(threaded)
            print(f"{suite} {codec} -d {level}: --num-threads 2 writes the same file")
            print(f"{suite} {codec} -d {level}: bitmaps equal makedumpfile's, {ratio:.3f}x its size")
            if level == "1":
                facts = check.crash_check(k, ours, expect_ps="kdlab-holder")
                check.drgn_check(k, ours, expect_comm=facts["comm"])
                print(f"{suite} {codec} -d 1: crash check and drgn pass ({os.path.getsize(ours)} bytes)")
            if codec in ("-c", "-l") and level == "1":
                print(f"{suite} {codec} -d 1: all {check_contents(ours, vmcore)} dumped pages equal the vmcore's")
            os.unlink(ours)


LEVELS = ("1", "2", "4", "8", "16", "31")
TAGS = (b"KDLABANO", b"KDLABTMP", b"KDLABFIL")


def test_parity():
    """On 6.1, each level dumps exactly the pfns Debian's makedumpfile dumps,
    with the vmcore's contents."""
    k = kernels.kernel("bookworm")
    vmcore = shared_vmcore("bookworm")
    for level in LEVELS:
        ours, theirs = fresh(f"parity-d{level}"), fresh(f"parity-d{level}.mdf")
        dumptool("-c", "-d", level, vmcore, ours)
        makedumpfile("-c", "-d", level, vmcore, theirs)
        a, b = KdumpFile(ours), KdumpFile(theirs)
        if a.bitmap1 != b.bitmap1:
            raise LabError(f"-d {level}: the first bitmap differs from makedumpfile's")
        mine, its = set(a.dumpable()), set(b.dumpable())
        if mine != its:
            raise LabError(f"-d {level}: {len(mine - its)} pfns only dumptool dumps (first {sorted(mine - its)[:5]}), "
                           f"{len(its - mine)} only makedumpfile (first {sorted(its - mine)[:5]})")
        n = check_contents(ours, vmcore)
        print(f"-d {level}: the same {len(mine)} pfns as makedumpfile; {n} pages equal the vmcore's")
        os.unlink(theirs)
        if level == "31":
            facts = check.crash_check(k, ours, expect_ps="kdlab-holder")
            check.drgn_check(k, ours, expect_comm=facts["comm"])
            print("-d 31: crash check and drgn pass")
        os.unlink(ours)


def vmcore_tags(vmcore):
    """Tagged pages per kind in the raw vmcore: a tag starts a page."""
    counts = dict.fromkeys(TAGS, 0)
    with open(vmcore, "rb") as f:
        for s in elf_segments(vmcore):
            if s["type"] != 1:
                continue
            f.seek(s["offset"])
            left, at = s["filesz"], 0
            while left:
                chunk = f.read(min(left, 64 << 20))
                for m in re.finditer(rb"KDLAB(?:ANO|TMP|FIL)", chunk):
                    if (at + m.start()) % 4096 == 0:
                        counts[m.group()] += 1
                left -= len(chunk)
                at += len(chunk)
    return counts


# File and tmpfs pages just read or written sit in a per-CPU batch
# (folio_batch, 31 folios per CPU, 2 CPUs in the lab) before they get
# PG_lru; without it no flag says "page cache", so they are kept, as
# makedumpfile keeps them. (A CI run kept 9 tmpfs pages, pfns 0x17470-8:
# drgn showed them uptodate, dirty and swapbacked, without PG_lru.)
LRU_BATCH_PAGES = 2 * 31


def kept_workload(tags):
    """What a -d 31 dump must not hold: any anonymous page, or more file and
    tmpfs pages than can be waiting for the LRU."""
    return tags[b"KDLABANO"] or tags[b"KDLABTMP"] + tags[b"KDLABFIL"] > LRU_BATCH_PAGES


def dump_tags(dump):
    counts = dict.fromkeys(TAGS, 0)
    for _, data in KdumpFile(dump).pages():
        if data[:8] in counts:
            counts[data[:8]] += 1
    return counts


def test_filter():
    """On 6.12, where makedumpfile 1.7.2 keeps the free pages, -d 31 leaves
    out the workload's anonymous, tmpfs and file pages and the free pages."""
    k = kernels.kernel("trixie")
    vmcore = shared_vmcore("trixie")
    manifest = json.load(open(os.path.join(RUNS, "trixie", "result.json")))["manifest"]
    before = vmcore_tags(vmcore)
    want = {b"KDLABANO": manifest["anon_pages"], b"KDLABTMP": manifest["tmpfs_pages"],
            b"KDLABFIL": manifest["file_pages"]}
    for tag, n in want.items():
        # Page cache may have dropped some file pages; the others are held.
        if before[tag] < (n if tag != b"KDLABFIL" else 1):
            raise LabError(f"the vmcore holds {before[tag]} {tag.decode()} pages, the manifest {n}")
    print("vmcore: " + ", ".join(f"{before[t]} {t.decode()}" for t in TAGS))
    d0, d16, d31 = fresh("filter-d0"), fresh("filter-d16"), fresh("filter-d31")
    dumptool("-c", "-d", "0", vmcore, d0)
    dumptool("-c", "-d", "16", vmcore, d16)
    dumptool("-c", "-d", "31", vmcore, d31)
    free = len(set(KdumpFile(d0).dumpable()) - set(KdumpFile(d16).dumpable()))
    mem_free = manifest["meminfo_MemFree_kb"] * 1024 // 4096
    if free < 0.95 * mem_free:
        raise LabError(f"-d 16 left out {free} pages; MemFree was {mem_free} pages")
    print(f"-d 16: {free} pages left out, {100 * free / mem_free:.1f}% of MemFree ({mem_free} pages)")
    after = dump_tags(d31)
    if kept_workload(after):
        raise LabError("-d 31 kept workload pages: " + ", ".join(f"{after[t]} {t.decode()}" for t in TAGS))
    print(f"-d 31: no anonymous page of the workload kept; {after[b'KDLABTMP']} tmpfs and {after[b'KDLABFIL']} "
          f"file pages not yet on the LRU kept")
    facts = check.crash_check(k, d31, expect_ps="kdlab-holder")
    check.drgn_check(k, d31, expect_comm=facts["comm"])
    print(f"-d 31: crash check and drgn pass ({os.path.getsize(d31)} bytes)")
    for p in (d0, d16, d31):
        os.unlink(p)


def pipe(producer, consumer):
    a = subprocess.Popen(producer, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    b = subprocess.run(consumer, stdin=a.stdout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    a.stdout.close()
    if a.wait() or b.returncode:
        raise LabError(f"{' '.join(producer)} | {' '.join(consumer)} failed: {b.stderr.decode().strip()}")


def same_file(a, b):
    return open(a, "rb").read() == open(b, "rb").read()


def test_flattened():
    """dumptool -F | makedumpfile -R gives the file a direct dump gives, and
    makedumpfile -F | dumptool -R gives makedumpfile's own file; a stream cut
    short leaves only an -incomplete file, marked incomplete."""
    k = kernels.kernel("bookworm")
    vmcore = shared_vmcore("bookworm")
    direct, rebuilt = fresh("direct"), fresh("rebuilt")
    dumptool("-l", "-d", "31", vmcore, direct)
    pipe([DUMPTOOL, "-F", "-l", "-d", "31", vmcore], ["makedumpfile", "-R", rebuilt])
    if not same_file(direct, rebuilt):
        raise LabError("dumptool -F | makedumpfile -R differs from the direct dump")
    check.crash_check(k, rebuilt, expect_ps="kdlab-holder")
    print("dumptool -F | makedumpfile -R: identical to the direct dump; crash check passes")
    theirs, ours = fresh("mdf-direct"), fresh("mdf-rebuilt")
    makedumpfile("-c", "-d", "31", vmcore, theirs)
    pipe(["makedumpfile", "-F", "-c", "-d", "31", vmcore], [DUMPTOOL, "-R", ours])
    if not same_file(theirs, ours):
        raise LabError("makedumpfile -F | dumptool -R differs from makedumpfile's direct dump")
    facts = check.crash_check(k, ours, expect_ps="kdlab-holder")
    check.drgn_check(k, ours, expect_comm=facts["comm"])
    print("makedumpfile -F | dumptool -R: identical to makedumpfile's direct dump; crash check and drgn pass")
    stream, cut = fresh("stream"), fresh("cut")
    with open(stream, "wb") as f:
        subprocess.run([DUMPTOOL, "-F", "-l", "-d", "31", vmcore], stdout=f, check=True, stderr=subprocess.DEVNULL)
    with open(stream, "rb") as f:
        p = run([DUMPTOOL, "-R", cut], input=f.read(os.path.getsize(stream) // 2))
    err = p.stderr.decode().strip()
    if p.returncode != 1 or os.path.exists(cut) or "incomplete" not in err or len(err.splitlines()) != 1:
        raise LabError(f"a cut stream: exit {p.returncode}, {cut} exists: {os.path.exists(cut)}, said {err!r}")
    if not KdumpFile(cut + "-incomplete").status & 0x8:
        raise LabError("a cut stream: the -incomplete file lacks the incomplete flag")
    print(f"a stream cut in half: {err}")
    for p in (direct, rebuilt, theirs, ours, stream, cut + "-incomplete"):
        os.unlink(p)


def same_segments(elf, conv):
    """conv's PT_LOADs are elf's, byte for byte, but for a RAM range that
    ends inside a page: a kdump file's bitmap holds whole pages."""
    a = [s for s in elf_segments(elf) if s["type"] == 1]
    b = [s for s in elf_segments(conv) if s["type"] == 1]
    if [(s["vaddr"], s["paddr"], s["filesz"]) for s in a] != [(s["vaddr"], s["paddr"], s["filesz"]) for s in b]:
        raise LabError(f"{conv}: {len(b)} loads, not the {len(a)} of the ELF dump, or not at their addresses")
    cut = 0
    with open(elf, "rb") as f, open(conv, "rb") as g:
        for x, y in zip(a, b):
            end = x["paddr"] + x["memsz"]
            if y["memsz"] != x["memsz"]:
                if y["paddr"] + y["memsz"] != end // 4096 * 4096:
                    raise LabError(f"{conv}: the load at {x['paddr']:#x} is {y['memsz']:#x} bytes, not {x['memsz']:#x}")
                cut += 1
            f.seek(x["offset"])
            g.seek(y["offset"])
            if f.read(x["filesz"]) != g.read(y["filesz"]):
                raise LabError(f"{conv}: the data of the load at {x['paddr']:#x} differs")
    return len(a), cut


def test_elf(suite):
    """-E -d 31: every kept page is the vmcore's, the kept RAM pages are the
    kdump -d 31 file's less its zero pages, and crash and drgn read it. The
    kdump file converted with -E is the same ELF dump (the program headers
    rebuilt: the kernel image's load and the RAM's at their direct-map
    addresses), and crash and drgn read it too."""
    k = kernels.kernel(suite)
    vmcore = shared_vmcore(suite)
    elf, kd = fresh(f"{suite}-d31.elf"), fresh(f"{suite}-d31.kdump")
    dumptool("-E", "-d", "31", vmcore, elf)
    dumptool("-c", "-d", "31", vmcore, kd)
    read = vmcore_pages(vmcore)
    kept, holes = set(), 0
    with open(elf, "rb") as f:
        for s in elf_segments(elf):
            if s["type"] != 1:
                continue
            holes += s["memsz"] > s["filesz"]
            f.seek(s["offset"])
            for i in range(s["filesz"] // 4096):
                pfn = s["paddr"] // 4096 + i
                if f.read(4096) != read(pfn):
                    raise LabError(f"-E: pfn {pfn:#x} differs from the vmcore")
                if s["vaddr"] < 0xffffffff80000000:
                    kept.add(pfn)
    want = {pfn for pfn, data in KdumpFile(kd).pages() if data.count(0) != len(data)}
    if kept != want:
        raise LabError(f"-E kept {len(kept - want)} pages the kdump file drops and lacks {len(want - kept)} it keeps")
    print(f"{suite} -E -d 31: {len(kept)} RAM pages, each the vmcore's, the kdump file's less zero pages; "
          f"{holes} segments end in holes")
    facts = check.crash_check(k, elf, expect_ps="kdlab-holder")
    check.drgn_check(k, elf, expect_comm=facts["comm"])
    print(f"{suite} -E -d 31: crash check and drgn pass ({os.path.getsize(elf)} bytes)")
    conv = fresh(f"{suite}-d31.conv.elf")
    dumptool("-E", "-d", "31", kd, conv)
    loads, cut = same_segments(elf, conv)
    facts = check.crash_check(k, conv, expect_ps="kdlab-holder")
    check.drgn_check(k, conv, expect_comm=facts["comm"])
    print(f"{suite} the -d 31 kdump file as ELF: its {loads} loads and their data are the ELF dump's "
          f"({cut} shorter, to the last whole page); crash check and drgn pass")
    for p in (elf, kd, conv):
        os.unlink(p)


def test_convert():
    """kdump-compressed and flattened files as input: re-filtering
    makedumpfile's -d 1 file at -d 30 gives the file a direct -d 31 dump
    gives (the levels add, as in makedumpfile), from the file and from its
    flattened stream; converting zlib to zstd keeps every page."""
    k = kernels.kernel("bookworm")
    vmcore = shared_vmcore("bookworm")
    direct, mdf, flat = fresh("conv-direct"), fresh("conv-mdf-d1"), fresh("conv-mdf-d1.flat")
    dumptool("-l", "-d", "31", vmcore, direct)
    makedumpfile("-c", "-d", "1", vmcore, mdf)
    with open(flat, "wb") as f:
        if subprocess.run(["makedumpfile", "-F", "-c", "-d", "1", vmcore], stdout=f,
                          stderr=subprocess.DEVNULL).returncode:
            raise LabError("makedumpfile -F failed")
    for src in (mdf, flat):
        out = fresh("conv-refiltered")
        dumptool("-l", "-d", "30", src, out)
        if not same_file(out, direct):
            raise LabError(f"{os.path.basename(src)} re-filtered at -d 30 differs from a direct -d 31 dump")
        print(f"{os.path.basename(src)} re-filtered at -d 30: identical to a direct -d 31 dump")
        os.unlink(out)
    zstd = fresh("conv-zstd")
    dumptool("-z", "-d", "1", mdf, zstd)
    a, b = KdumpFile(mdf), KdumpFile(zstd)
    if a.bitmap1 != b.bitmap1 or a.bitmap2 != b.bitmap2:
        raise LabError("zlib to zstd: the bitmaps changed")
    facts = check.crash_check(k, zstd, expect_ps="kdlab-holder")
    check.drgn_check(k, zstd, expect_comm=facts["comm"])
    print("makedumpfile's zlib file converted to zstd: same bitmaps; crash check and drgn pass")
    cut = fresh("conv-cut")
    with open(mdf, "rb") as f, open(cut, "wb") as g:
        g.write(f.read(os.path.getsize(mdf) // 4))
    out = fresh("conv-from-cut")
    p = dumptool("-l", "-d", "31", cut, out, expect=1)
    err = errors_of(p)
    if len(err) != 1 or "cannot be read" not in err[0] or os.path.exists(out) or \
            not KdumpFile(out + "-incomplete").status & 0x8:
        raise LabError(f"a truncated kdump input: {err!r}")
    print(f"a truncated kdump input: {err[0]}")
    for p in (direct, mdf, flat, zstd, cut, out + "-incomplete"):
        os.unlink(p)


def test_capture(suite):
    """dumptool inside the capture kernel, called as kdump-utils calls
    makedumpfile for an ssh target (-F onto a pipe, here the raw target
    disk); the host rebuilds the stream with dumptool -R. On trixie with
    --num-threads 2: the workers read /proc/vmcore with pread, beside the
    first pass's mapped window."""
    k = kernels.kernel(suite)
    threads = " --num-threads 2" if suite == "trixie" else ""
    cmd = f"dumptool -F -l --message-level 7 -d 31{threads} /proc/vmcore > $TARGET_DISK"
    cfg = RunConfig(mode="program", programs=[DUMPTOOL], capture_cmd=cmd, target_disk_mb=256,
                    workload=os.environ["KDLAB_WORKLOAD"])
    result = crash_cycle(k, cfg, os.path.join(RUNS, f"capture-{suite}"))
    dump, zlib = fresh(f"capture-{suite}"), fresh(f"capture-{suite}.zlib")
    with open(result["target_disk"], "rb") as f:
        p = run([DUMPTOOL, "-R", dump], stdin=f)
    if p.returncode:
        raise LabError(f"dumptool -R of the capture kernel's stream: {p.stderr.decode().strip()}")
    if KdumpFile(dump).dump_level != 31:
        raise LabError("the captured dump is not at level 31")
    facts = check.crash_check(k, dump, expect_ps="kdlab-holder")
    check.drgn_check(k, dump, expect_comm=facts["comm"])
    dumptool("-c", "-d", "0", dump, zlib)  # the test's reader inflates zlib only
    tags = dump_tags(zlib)
    if kept_workload(tags):
        raise LabError("the capture kernel's -d 31 dump kept workload pages: " +
                       ", ".join(f"{tags[t]} {t.decode()}" for t in TAGS))
    print(f"{suite}: dumptool -F -d 31{threads} in the capture kernel, {os.path.getsize(dump)} bytes rebuilt; no anonymous "
          f"pages, {tags[b'KDLABTMP']} tmpfs and {tags[b'KDLABFIL']} file pages off the LRU; crash check and drgn pass; "
          f"cycle {result['seconds']}s")
    for p in (dump, zlib, result["target_disk"]):
        os.unlink(p)


def errors_of(p):
    """dumptool's stderr without the notes that precede any dump: the space
    it needs, and the reason the kernel died or why the log could not be
    read (both about crash.json)."""
    return [line for line in p.stderr.decode().splitlines()
            if "the dump keeps" not in line and "may be too small" not in line and "crash.json" not in line]


CALLER_ID = re.compile(rb"^(\[ *\d+\.\d{6}\] )\[ *[TC]\d+\] ")
CALLER_WIDTH = len(b"[      T1] ")


def without_caller_ids(text):
    """makedumpfile 1.7.2 predates the caller-id column (1.7.9 prints
    it): drop it, and its width from the indent of continuation lines."""
    out = []
    for line in text.split(b"\n"):
        if CALLER_ID.match(line):
            line = CALLER_ID.sub(rb"\1", line)
        elif line.startswith(b" " * CALLER_WIDTH):
            line = line[CALLER_WIDTH:]
        out.append(line)
    return b"\n".join(out)


def crash_log(suite, dump):
    p = run([LAB, "crash", suite, dump, "log"])
    if p.returncode:
        raise LabError(f"crash log on {dump} failed: {p.stderr.decode().strip()[-300:]}")
    return p.stdout


def test_dmesg(suite):
    """--dump-dmesg on the raw vmcore and on a -d 31 dump writes what Debian's
    makedumpfile writes, but for the caller-id column; so does crash's log;
    dumptool dmesg prints the same to stdout."""
    vmcore = shared_vmcore(suite)
    d31 = fresh(f"dmesg-{suite}-d31")
    dumptool("-l", "-d", "31", vmcore, d31)
    for src in (vmcore, d31):
        ours, theirs = fresh(f"dmesg-{suite}.ours"), fresh(f"dmesg-{suite}.mdf")
        dumptool("--dump-dmesg", src, ours)
        makedumpfile("--dump-dmesg", src, theirs)
        a, b = open(ours, "rb").read(), open(theirs, "rb").read()
        if not CALLER_ID.match(a):
            raise LabError(f"{suite}: no caller-id column, though VMCOREINFO has OFFSET(printk_info.caller_id)")
        if without_caller_ids(a) != b:
            raise LabError(f"{suite} {os.path.basename(src)}: --dump-dmesg differs from makedumpfile's")
        if without_caller_ids(a) != crash_log(suite, src):
            raise LabError(f"{suite} {os.path.basename(src)}: --dump-dmesg differs from crash's log")
        if dumptool("dmesg", src).stdout != a:
            raise LabError(f"{suite}: dumptool dmesg differs from --dump-dmesg")
        if b"sysrq triggered crash" not in a.lower() and b"sysrq: trigger a crash" not in a.lower():
            raise LabError(f"{suite}: the log lacks the sysrq crash")
        lines = a.count(b"\n")
        print(f"{suite} {os.path.basename(src)}: {lines} lines, {len(a)} bytes; makedumpfile's and crash's "
              f"log, plus the caller-id column")
        os.unlink(ours)
        os.unlink(theirs)
    os.unlink(d31)


def test_disk_full():
    """Onto a full 32 MiB tmpfs: exit 1, one line naming the full disk, and
    only NAME-incomplete, with the incomplete flag set, for every writer;
    each 10 times, as the direct writer's thread meets the full disk at a
    moment of its own (a race once left the flag out 1 time in 13)."""
    vmcore = shared_vmcore("bookworm")
    mnt = os.path.join(WORK, "full")
    os.makedirs(mnt, exist_ok=True)
    p = run(["mount", "-t", "tmpfs", "-o", "size=32m", "kdlab-full", mnt])
    if p.returncode:
        raise LabError(f"mounting a small tmpfs needs root: {p.stderr.decode().strip()}")
    try:
        for args in [["-c", "-d", "1"]] * 10 + [["-l", "-d", "1", "--num-threads", "2"]] * 10:
            out = os.path.join(mnt, "dump")
            p = dumptool(*args, vmcore, out, expect=1)
            err = errors_of(p)
            if len(err) != 1 or "No space left on device" not in err[0] or "incomplete" not in err[0]:
                raise LabError(f"{' '.join(args)}: expected one line naming the full disk, got {err!r}")
            if os.path.exists(out) or not os.path.exists(out + "-incomplete"):
                raise LabError(f"{' '.join(args)}: {os.listdir(mnt)} after a full disk; want only dump-incomplete")
            # Written before the dump, so saved though the dump was not.
            saved = json.load(open(os.path.join(mnt, "crash.json")))
            if saved["panic"] != "sysrq triggered crash" or not os.path.getsize(os.path.join(mnt, "vmcore-dmesg.txt")):
                raise LabError(f"{' '.join(args)}: crash.json and vmcore-dmesg.txt were not saved before the dump")
            kd = KdumpFile(out + "-incomplete")
            kd.f.close()
            if not kd.status & 0x8:
                raise LabError(f"{' '.join(args)}: the -incomplete file lacks the incomplete flag")
            print(f"{' '.join(args)}: {err[0]} ({os.path.getsize(out + '-incomplete')} bytes kept, flag set)")
            os.unlink(out + "-incomplete")
    finally:
        subprocess.run(["umount", "-l", mnt])


# Each crash kind of the lab, and what its panic line must say.
CRASH_KINDS = {
    "sysrq": r"^sysrq triggered crash$",
    "kill-init": r"^Attempted to kill init! exitcode=0x[0-9a-f]+$",
    "oom": r"^Out of memory",
    "nmi": r"NMI: Not continuing",
}


def kind_vmcore(suite, kind, mem, hostname):
    """A raw vmcore of one crash kind, made once per build directory."""
    d = os.path.join(RUNS, f"kind-{suite}-{kind}-{mem}-{hostname}")
    p = subprocess.run([LAB, "vmcore", suite, "--dir", d, "--crash", kind, "--mem", str(mem), "--hostname", hostname,
                        "--anon-mb", "64", "--zero-mb", "16", "--tmpfs-mb", "32", "--file-mb", "16"],
                       stdout=subprocess.PIPE)
    if p.returncode:
        raise LabError(f"no {suite} {kind} vmcore")
    return p.stdout.decode().strip()


def saved_report(vmcore, name, threads=1):
    """dumptool -d 31 into a fresh directory: crash.json and vmcore-dmesg.txt
    beside the dump; both must equal what info and dmesg say. With two
    threads they are saved on a thread of their own, beside the first pass."""
    d = os.path.join(WORK, name)
    subprocess.run(["rm", "-rf", d], check=True)
    os.makedirs(d)
    dumptool("-z", "-d", "31", "--num-threads", str(threads), vmcore, os.path.join(d, "vmcore"))
    saved = json.load(open(os.path.join(d, "crash.json")))
    info = json.loads(dumptool("info", "--json", vmcore).stdout)
    if info["crash"] != saved:
        raise LabError(f"{name}: crash.json differs from dumptool info --json's crash part")
    if open(os.path.join(d, "vmcore-dmesg.txt"), "rb").read() != dumptool("dmesg", vmcore).stdout:
        raise LabError(f"{name}: vmcore-dmesg.txt differs from dumptool dmesg")
    sizes = (os.path.getsize(os.path.join(d, "vmcore-dmesg.txt")), os.path.getsize(os.path.join(d, "crash.json")))
    subprocess.run(["rm", "-rf", d], check=True)
    return saved, sizes


def test_signature(suite):
    """Four crash kinds give four signatures, each with the right reason;
    the same kind on a guest with other memory and another host name gives
    the same signature."""
    seen = {}
    for kind, reason in CRASH_KINDS.items():
        c, sizes = saved_report(kind_vmcore(suite, kind, 768, "kd-a"), f"sig-{suite}-{kind}")
        if not c["panic"] or not re.search(reason, c["panic"]):
            raise LabError(f"{suite} {kind}: panic {c['panic']!r} does not match {reason!r}")
        if c["hostname"] != "kd-a" or not c["release"] or len(c["frames"]) < 3 or not c["rip"]:
            raise LabError(f"{suite} {kind}: incomplete crash.json: {c}")
        if c["signature"] in seen:
            raise LabError(f"{suite}: {kind} and {seen[c['signature']]} have one signature {c['signature']}")
        seen[c["signature"]] = kind
        print(f"{suite} {kind}: {c['reason']!r} rip {c['rip']} ({c['rip_source']}); frames {' '.join(c['frames'])}; "
              f"signature {c['signature']}; vmcore-dmesg.txt {sizes[0]} bytes, crash.json {sizes[1]} bytes")
    for kind in ("kill-init", "sysrq"):
        a, _ = saved_report(kind_vmcore(suite, kind, 768, "kd-a"), f"sig-{suite}-{kind}-a")
        b, _ = saved_report(kind_vmcore(suite, kind, 1024, "kd-b"), f"sig-{suite}-{kind}-b", threads=2)
        if b["hostname"] != "kd-b" or a["crash_time"] == b["crash_time"]:
            raise LabError(f"{suite} {kind}: the second run is not another host and boot: {b}")
        if a["signature"] != b["signature"]:
            raise LabError(f"{suite} {kind}: 768 MiB on kd-a and 1024 MiB on kd-b differ: "
                           f"{a['signature']} {a['frames']} vs {b['signature']} {b['frames']}")
        print(f"{suite} {kind}: the same signature on kd-a (768 MiB) and kd-b (1024 MiB): {a['signature']}")


def log_text_pfns(suite, vmcore):
    """The pfns of the printk ring's text, as crash finds them with the
    debug vmlinux (not through dumptool's own code)."""
    out = subprocess.run([LAB, "crash", suite, vmcore, "p/x prb->text_data_ring.data",
                          "p prb->text_data_ring.size_bits"], stdout=subprocess.PIPE, check=True).stdout.decode()
    data = int(re.search(r"= (0x[0-9a-f]+)", out).group(1), 16)
    bits = int(re.findall(r"= (\d+)", out)[-1])
    pages = [data + i for i in range(0, 1 << bits, 4096)]
    out = subprocess.run([LAB, "crash", suite, vmcore, *[f"vtop {a:#x}" for a in pages]],
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    phys = re.findall(r"^[0-9a-f]{16}\s+([0-9a-f]+)\s*$", out, re.M)
    if len(phys) != len(pages):
        raise LabError(f"crash's vtop gave {len(phys)} addresses for {len(pages)} pages:\n{out[-2000:]}")
    return [int(p, 16) // 4096 for p in phys]


def test_degraded(suite):
    """A -d 31 dump with the log's text pages left out by hand: dmesg fails
    with one line; info and crash.json still say what they can."""
    vmcore = shared_vmcore(suite)
    full, degraded = fresh(f"degraded-{suite}.full"), fresh(f"degraded-{suite}")
    dumptool("-c", "-d", "31", vmcore, full)
    dropped = drop_pages(full, degraded, log_text_pfns(suite, vmcore))
    if not dropped:
        raise LabError(f"{suite}: none of the log's pages were in the -d 31 dump")
    p = dumptool("dmesg", degraded, expect=1)
    err = p.stderr.decode().strip()
    if len(err.splitlines()) != 1 or "text" not in err or "not in this dump" not in err:
        raise LabError(f"{suite}: dmesg on a dump without the log: expected one line naming it, got {err!r}")
    info = json.loads(dumptool("info", "--json", degraded).stdout)
    c = info["crash"]
    if info["crash_needs"]["log"] or not c["log_problem"] or not c["release"] or info["pages"]["dumped"] == 0:
        raise LabError(f"{suite}: info on the degraded dump: {info}")
    text = dumptool("info", degraded).stdout.decode()
    if "release:" not in text or "not in this dump" not in text:
        raise LabError(f"{suite}: info's text on the degraded dump lacks the release or the log's problem:\n{text}")
    print(f"{suite}: {dropped} text pages left out; dmesg says {err!r}; info still reports release {c['release']}, "
          f"{info['pages']['dumped']} dumped pages, kernel image {info['crash_needs']['kernel_image_pages']} pages")
    os.unlink(full)
    os.unlink(degraded)


def expect_error(path, *words):
    out = fresh("bad.kdump")
    p = dumptool("-l", "-d", "31", path, out, expect=1)
    err = p.stderr.decode().strip()
    if len(err.splitlines()) != 1 or not all(w in err for w in words):
        raise LabError(f"{os.path.basename(path)}: expected one line naming {words}, got: {err!r}")
    if os.path.exists(out):
        raise LabError(f"{os.path.basename(path)}: a dump file was made from bad input")
    print(f"{os.path.basename(path)}: {err}")


def sparse_copy(src, name):
    dst = fresh(name)
    subprocess.run(["cp", "--sparse=always", src, dst], check=True)
    return dst


def test_bad_input():
    vmcore = shared_vmcore("bookworm")
    k = kernels.kernel("bookworm")
    empty = fresh("zero-length")
    open(empty, "w").close()
    expect_error(empty, "empty")
    text = fresh("not-elf")
    with open(text, "w") as f:
        f.write("this is not a vmcore\n")
    expect_error(text, "not an ELF file")
    cut = sparse_copy(vmcore, "truncated")
    os.truncate(cut, os.path.getsize(vmcore) // 2)
    expect_error(cut, "PT_LOAD", "past the end of the file", "truncated")
    past = sparse_copy(vmcore, "load-past-end")
    with open(past, "r+b") as f:
        eh = f.read(64)
        phoff, phnum = struct.unpack_from("<Q", eh, 32)[0], struct.unpack_from("<H", eh, 56)[0]
        last = phoff + 56 * (phnum - 1)
        f.seek(last + 32)
        f.write(struct.pack("<QQ", 1 << 40, 1 << 40))  # p_filesz, p_memsz
    expect_error(past, f"PT_LOAD {phnum - 2}", "past the end of the file")
    for p in (empty, text, cut, past):
        os.unlink(p)
    # Damaged VMCOREINFO: the dump is still saved, at the safe level.
    bad = sparse_copy(vmcore, "garbage-vmcoreinfo")
    note = next(s for s in elf_segments(vmcore) if s["type"] == 4)
    with open(bad, "r+b") as f:
        f.seek(note["offset"])
        notes = f.read(note["filesz"])
        at = notes.index(b"OSRELEASE=")
        f.seek(note["offset"] + at)
        f.write(bytes((i * 37 + 1) % 256 or 1 for i in range(200)))
    out = fresh("garbage-vmcoreinfo.kdump")
    p = dumptool("-l", "-d", "31", bad, out)
    warn = p.stderr.decode()
    if "VMCOREINFO is damaged" not in warn or "saving at level 1" not in warn:
        raise LabError(f"damaged VMCOREINFO: no warning naming it: {warn!r}")
    if KdumpFile(out).dump_level != 1:
        raise LabError("damaged VMCOREINFO: the dump was not saved at level 1")
    check.crash_check(k, out)
    print("damaged VMCOREINFO: warned, saved at level 1, crash check passes")
    os.unlink(out)
    os.unlink(bad)


if __name__ == "__main__":
    sys.exit(test_main({"kdump": test_kdump, "elf": test_elf, "convert": test_convert, "capture": test_capture, "dmesg": test_dmesg,
                                "signature": test_signature, "degraded": test_degraded, "parity": test_parity, "filter": test_filter,
                                "flattened": test_flattened, "disk-full": test_disk_full, "bad-input": test_bad_input}, sys.argv))
