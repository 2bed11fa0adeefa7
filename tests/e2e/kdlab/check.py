"""The crash check and the drgn check: real readers, run non-interactively.

A dump passes the crash check only if crash opens it with the debug vmlinux,
`sys` names the kernel's release, `bt` of the panic task shows the expected
frame, and `log` holds the expected panic line."""

import os
import re
import subprocess
import tempfile

from .kernels import crash_command
from .util import LabError, log

CRASH_COMMANDS = ["set scroll off", "sys", "bt", "ps", "log", "quit"]
# What a sysrq-c crash leaves behind, in every kernel since 2.6.
SYSRQ_FRAME = "sysrq_handle_crash"
SYSRQ_PANIC = "sysrq triggered crash"
DRGN_PYTHON = "/usr/bin/python3"  # python3-drgn is installed for Debian's own Python
CRASH_TIMEOUT = 600


def run_crash(k, dump, commands=CRASH_COMMANDS):
    with tempfile.NamedTemporaryFile("w", suffix=".crash", delete=False) as f:
        f.write("\n".join(commands) + "\n")
        cmdfile = f.name
    try:
        argv = crash_command(k) + ["-s", k.vmlinux, dump, "-i", cmdfile]
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=CRASH_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise LabError(f"crash: no answer within {CRASH_TIMEOUT}s on {dump}")
    finally:
        os.unlink(cmdfile)
    return p.returncode, p.stdout.decode(errors="replace")


def _sections(output):
    """Splits crash's output at the command echo crash prints for -i files
    is absent, so split on what each command prints first instead."""
    sys_m = re.search(r"^\s+KERNEL: .*?(?=^PID: |\Z)", output, re.M | re.S)
    bt_m = re.search(r"^PID: \d+\s+TASK: .*?(?=^\s+PID\s+PPID|\Z)", output, re.M | re.S)
    return (sys_m.group(0) if sys_m else ""), (bt_m.group(0) if bt_m else "")


def crash_check(k, dump, frame=SYSRQ_FRAME, panic=SYSRQ_PANIC, expect_ps=None):
    """Raises LabError with the reason unless crash reads the dump correctly.
    Returns the parsed facts (release, panic task, its comm)."""
    rc, output = run_crash(k, dump)
    reasons = []
    if not output.strip():
        raise LabError(f"crash printed nothing (exit {rc}) on {dump}: wrong crash version for {k.release}?")
    sys_text, bt_text = _sections(output)
    release = re.search(r"^\s+RELEASE: (\S+)", sys_text, re.M)
    if not release:
        reasons.append("`sys` printed no RELEASE line")
    elif release.group(1) != k.release:
        reasons.append(f"`sys` says release {release.group(1)}, expected {k.release}")
    task = re.search(r'^PID: (\d+)\s+TASK: \S+\s+CPU: (\d+)\s+COMMAND: "([^"]*)"', bt_text, re.M)
    if not task:
        reasons.append("`bt` printed no task header")
    if frame not in bt_text:
        reasons.append(f"`bt` of the panic task does not show {frame}")
    if panic not in output:
        reasons.append(f"`log` does not contain {panic!r}")
    if expect_ps and not re.search(rf"\b{re.escape(expect_ps)}\b", output):
        reasons.append(f"`ps` does not list {expect_ps}")
    if reasons:
        last = "\n".join(output.strip().splitlines()[-15:])
        raise LabError(f"crash check failed on {dump}: {'; '.join(reasons)}\n--- crash output tail ---\n{last}")
    return {"release": release.group(1), "pid": int(task.group(1)), "cpu": int(task.group(2)),
            "comm": task.group(3)}


DRGN_SCRIPT = r"""
import sys, drgn
prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
prog.load_debug_info([sys.argv[2]])
print("release=" + prog["init_uts_ns"].name.release.string_().decode())
print("comm=" + prog.crashed_thread().object.comm.string_().decode())
"""


def drgn_check(k, dump, expect_comm=None):
    """Reads the release and the crashed task's comm with drgn (libkdumpfile for
    compressed dumps). drgn 0.0.22 cannot unwind 6.12 stacks, so no bt here."""
    if not os.path.exists(DRGN_PYTHON):
        raise LabError(f"{DRGN_PYTHON}: missing; install python3-drgn")
    # drgn 0.0.22 (Debian) segfaults on zlib kdump files, makedumpfile's own
    # included, when malloc fills freed memory: meson test sets MALLOC_PERTURB_,
    # which exposes a use of freed or uninitialised heap memory in the reader.
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_PERTURB_"}
    p = subprocess.run([DRGN_PYTHON, "-c", DRGN_SCRIPT, dump, k.vmlinux], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=CRASH_TIMEOUT, env=env)
    if p.returncode != 0:
        err = p.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["(no message)"]
        how = f"killed by signal {-p.returncode}" if p.returncode < 0 else f"exit {p.returncode}"
        raise LabError(f"drgn could not read {dump} ({how}): {err[0]}")
    facts = dict(l.split("=", 1) for l in p.stdout.decode().splitlines() if "=" in l)
    if facts.get("release") != k.release:
        raise LabError(f"drgn reads release {facts.get('release')}, expected {k.release}")
    if expect_comm and facts.get("comm") != expect_comm:
        raise LabError(f"drgn reads crashed comm {facts.get('comm')!r}, crash said {expect_comm!r}")
    return facts


def elf_segments(path):
    with open(path, "rb") as f:
        eh = f.read(64)
        phoff = int.from_bytes(eh[32:40], "little")
        phentsize = int.from_bytes(eh[54:56], "little")
        phnum = int.from_bytes(eh[56:58], "little")
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    segs = []
    for i in range(phnum):
        e = ph[i * phentsize:(i + 1) * phentsize]
        u = lambda a, b: int.from_bytes(e[a:b], "little")
        segs.append({"type": u(0, 4), "offset": u(8, 16), "vaddr": u(16, 24), "paddr": u(24, 32),
                     "filesz": u(32, 40), "memsz": u(40, 48)})
    return segs


KERNEL_TEXT_MIN = 0xffffffff80000000  # x86_64: the kernel image mapping


def zero_kernel_text(src, dst):
    """Copies a raw ELF vmcore with the kernel image's physical pages zeroed in
    every PT_LOAD that holds them: a dump no reader should accept."""
    segs = [s for s in elf_segments(src) if s["type"] == 1]
    text = [s for s in segs if s["vaddr"] >= KERNEL_TEXT_MIN]
    if not text:
        raise LabError(f"{src}: no PT_LOAD maps the kernel text")
    subprocess.run(["cp", "--sparse=always", src, dst], check=True)
    zeroed = 0
    with open(dst, "r+b") as f:
        for t in text:
            lo, hi = t["paddr"], t["paddr"] + t["filesz"]
            for s in segs:
                a, b = max(lo, s["paddr"]), min(hi, s["paddr"] + s["filesz"])
                if a < b:
                    f.seek(s["offset"] + a - s["paddr"])
                    for off in range(a, b, 1 << 20):
                        f.write(bytes(min(1 << 20, b - off)))
                    zeroed += b - a
    log(f"zeroed {zeroed >> 20} MiB of kernel image pages in {dst}")
    return zeroed
