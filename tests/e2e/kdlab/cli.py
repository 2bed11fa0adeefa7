"""Command line of the crash lab: tests/e2e/lab COMMAND ... (see --help)."""

import argparse
import fcntl
import json
import os
import sys

from . import check, kernels
from .guest import RunConfig, crash_cycle
from .util import LabError, cache_dir, log, read_json

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _workload(path):
    for p in (path, os.environ.get("KDLAB_WORKLOAD"), os.path.join(REPO, "build", "tests", "e2e", "workload")):
        if p and os.path.exists(p):
            return os.path.abspath(p)
    raise LabError("workload binary not found: build with `meson setup build && ninja -C build`, or give --workload")


def cmd_fetch(a):
    for suite in a.kernels or kernels.KERNEL_SUITES:
        k = kernels.kernel(suite, refresh=a.refresh)
        crash = kernels.crash_command(k)
        print(json.dumps({"suite": suite, "release": k.release, "vmlinux": k.vmlinux, "crash": crash[-1]}))


def _run_config(a):
    files = []
    for spec in getattr(a, "file", []):
        src, sep, dest = spec.partition(":")
        if not sep or not dest.startswith("/") or not os.path.isfile(src):
            raise LabError(f"--file {spec}: not HOST_FILE:/GUEST_PATH with an existing file")
        files.append((os.path.abspath(src), dest))
    return RunConfig(mem_mb=a.mem, crashkernel=a.crashkernel, mode=a.mode, programs=a.program, files=files,
                     capture_cmd=a.capture_cmd, net=a.net, target_disk_mb=a.target_disk_mb,
                     timeout=a.timeout, workload=_workload(a.workload), crash=a.crash,
                     anon_mb=a.anon_mb, zero_mb=a.zero_mb, tmpfs_mb=a.tmpfs_mb, file_mb=a.file_mb,
                     hostname=a.hostname)


def cmd_run(a):
    k = kernels.kernel(a.kernel)
    r = crash_cycle(k, _run_config(a), a.out)
    print(json.dumps(r, indent=1, sort_keys=True))


def cmd_vmcore(a):
    """A raw vmcore of the kernel in DIR, made once and shared by every test
    that asks for it (the first one makes it, the others wait on a lock)."""
    k = kernels.kernel(a.kernel)
    os.makedirs(a.dir, exist_ok=True)
    with open(os.path.join(a.dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = read_json(os.path.join(a.dir, "result.json"))
        same = result and all(result.get(key) == want for key, want in (
            ("kernel", k.release), ("crash", a.crash), ("hostname", a.hostname), ("mem_mb", a.mem)))
        if not (same and os.path.exists(result.get("vmcore", ""))):
            a.mode, a.program, a.capture_cmd, a.net, a.target_disk_mb = "raw", [], "", False, 0
            result = crash_cycle(k, _run_config(a), a.dir)
        else:
            log(f"vmcore {k.suite}: reusing {result['vmcore']}")
    print(result["vmcore"])


def cmd_check(a):
    k = kernels.kernel(a.kernel)
    facts = check.crash_check(k, a.dump, expect_ps=a.expect_ps)
    print(json.dumps(facts))
    if a.drgn:
        print(json.dumps(check.drgn_check(k, a.dump, expect_comm=facts["comm"])))


def cmd_drgn(a):
    k = kernels.kernel(a.kernel)
    print(json.dumps(check.drgn_check(k, a.dump, expect_comm=a.comm)))


def cmd_crash(a):
    k = kernels.kernel(a.kernel)
    rc, output = check.run_crash(k, a.dump, ["set scroll off", *a.commands, "quit"])
    print("".join(l for l in output.splitlines(True) if not l.startswith("scroll: ")), end="")
    if rc != 0:
        raise LabError(f"crash exited {rc}")


def cmd_zero_text(a):
    check.zero_kernel_text(a.src, a.dst)


def cmd_info(a):
    k = kernels.kernel(a.kernel)
    print(json.dumps({"suite": k.suite, "release": k.release, "vmlinux": k.vmlinux, "vmlinuz": k.vmlinuz,
                      "moddir": k.moddir, "crash": kernels.crash_command(k), "cache": cache_dir()}))


def _add_run_options(p):
    p.add_argument("--mem", type=int, default=2048, help="guest memory in MiB (default 2048)")
    p.add_argument("--crashkernel", default="256M", help="crashkernel= of the first kernel (default 256M)")
    p.add_argument("--timeout", type=int, default=600, help="seconds before the guest is killed")
    p.add_argument("--workload", help="the static workload binary (default: build/tests/e2e/workload)")
    p.add_argument("--crash", default="sysrq", choices=["sysrq", "kill-init", "oom", "nmi"],
                   help="how the first kernel crashes (default sysrq)")
    p.add_argument("--hostname", default="kdlab", help="the first kernel's host name (default kdlab)")
    p.add_argument("--anon-mb", type=int, default=192)
    p.add_argument("--zero-mb", type=int, default=64)
    p.add_argument("--tmpfs-mb", type=int, default=128)
    p.add_argument("--file-mb", type=int, default=64)


def parser():
    ap = argparse.ArgumentParser(prog="lab", description="kdumpkit crash lab: real Debian kernels crashed under QEMU")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("fetch", help="download kernels, debug vmlinux and crash into the cache")
    p.add_argument("kernels", nargs="*", help="bookworm, trixie (default: both)")
    p.add_argument("--refresh", action="store_true", help="re-resolve the metapackage even if cached")
    p.set_defaults(fn=cmd_fetch)
    p = sub.add_parser("run", help="one crash cycle; prints the result as JSON")
    p.add_argument("kernel", choices=kernels.KERNEL_SUITES)
    p.add_argument("--out", required=True, help="directory for the vmcore, console log and result.json")
    p.add_argument("--mode", choices=["raw", "program"], default="raw")
    p.add_argument("--program", action="append", default=[], help="static binary for the capture initrd")
    p.add_argument("--capture-cmd", default="", help="shell command the capture /init runs (program mode)")
    p.add_argument("--file", action="append", default=[], metavar="SRC:DEST",
                   help="a host file put into the capture initrd at DEST (mode kept)")
    p.add_argument("--net", action="store_true", help="give the capture kernel slirp networking, set up by udhcpc")
    p.add_argument("--target-disk-mb", type=int, default=0, help="a blank disk for the capture program")
    _add_run_options(p)
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("vmcore", help="make (once) a raw vmcore in DIR and print its path")
    p.add_argument("kernel", choices=kernels.KERNEL_SUITES)
    p.add_argument("--dir", required=True)
    _add_run_options(p)
    p.set_defaults(fn=cmd_vmcore)
    p = sub.add_parser("check", help="the crash check (sys, bt, ps, log) on a dump")
    p.add_argument("kernel", choices=kernels.KERNEL_SUITES)
    p.add_argument("dump")
    p.add_argument("--expect-ps", help="a command name `ps` must list")
    p.add_argument("--drgn", action="store_true", help="also read the dump with drgn")
    p.set_defaults(fn=cmd_check)
    p = sub.add_parser("drgn", help="read release and crashed comm with drgn")
    p.add_argument("kernel", choices=kernels.KERNEL_SUITES)
    p.add_argument("dump")
    p.add_argument("--comm")
    p.set_defaults(fn=cmd_drgn)
    p = sub.add_parser("crash", help="run crash commands on a dump, non-interactively")
    p.add_argument("kernel", choices=kernels.KERNEL_SUITES)
    p.add_argument("dump")
    p.add_argument("commands", nargs="+", help="crash commands, e.g. bt 'log -T'")
    p.set_defaults(fn=cmd_crash)
    p = sub.add_parser("zero-text", help="copy a raw vmcore with the kernel image pages zeroed")
    p.add_argument("src")
    p.add_argument("dst")
    p.set_defaults(fn=cmd_zero_text)
    p = sub.add_parser("info", help="print the cached paths of a kernel")
    p.add_argument("kernel", choices=kernels.KERNEL_SUITES)
    p.set_defaults(fn=cmd_info)
    return ap


def main(argv=None):
    a = parser().parse_args(argv)
    try:
        a.fn(a)
    except LabError as e:
        print(f"lab: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
