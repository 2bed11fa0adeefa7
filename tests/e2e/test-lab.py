#!/usr/bin/python3
"""The crash lab's own tests (meson test --suite e2e). Each scenario boots or
reads real Debian kernels; none of them can pass without checking a dump.

  test-lab.py cache|bookworm|trixie|negative|program"""

import contextlib
import io
import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kdlab import check, kernels  # noqa: E402
from kdlab.guest import RunConfig, _died_booting, boot, crash_cycle  # noqa: E402
from kdlab.util import LabError, read_json, test_main  # noqa: E402

LAB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lab")
RUNS = os.environ.get("KDLAB_RUNS") or tempfile.mkdtemp(prefix="kdlab-runs-")


def lab(*args, env=None):
    p = subprocess.run([LAB, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    sys.stderr.write(p.stderr.decode(errors="replace"))
    if p.returncode != 0:
        raise LabError(f"lab {' '.join(args)} exited {p.returncode}")
    return p.stdout.decode(), p.stderr.decode()


def shared_vmcore(suite):
    """The raw vmcore of suite, made once per build directory."""
    stdout, _ = lab("vmcore", suite, "--dir", os.path.join(RUNS, suite))
    return stdout.strip()


def check_manifest(result):
    m = result["manifest"]
    for key in ("anon_pages", "zero_pages", "tmpfs_pages", "file_pages", "meminfo_MemFree_kb"):
        if not m.get(key):
            raise LabError(f"the manifest has no {key}: {m}")
    if m["anon_pages"] != 192 * 256 or m["file_pages"] != 64 * 256:
        raise LabError(f"the manifest counts differ from what was asked: {m}")


def test_cache():
    """A second fetch must not download: apt is replaced by a command that fails."""
    lab("fetch")
    with tempfile.TemporaryDirectory() as shim:
        marker = os.path.join(shim, "apt-was-called")
        for tool in ("apt-get", "apt-cache", "apt"):
            path = os.path.join(shim, tool)
            with open(path, "w") as f:
                f.write(f"#!/bin/sh\necho \"$0 $*\" >> {marker}\nexit 1\n")
            os.chmod(path, stat.S_IRWXU)
        env = dict(os.environ, PATH=f"{shim}:{os.environ['PATH']}")
        _, err = lab("fetch", env=env)
        if os.path.exists(marker):
            raise LabError(f"the cached fetch called apt: {open(marker).read().strip()}")
        for suite in kernels.KERNEL_SUITES:
            if f"kernel {suite}: using cached" not in err:
                raise LabError(f"the cached fetch did not report a cached {suite} kernel")
    print("cached fetch: no download, both kernels from the cache")


def test_kernel(suite):
    vmcore = shared_vmcore(suite)
    result = read_json(os.path.join(RUNS, suite, "result.json"))
    check_manifest(result)
    k = kernels.kernel(suite)
    facts = check.crash_check(k, vmcore, expect_ps="kdlab-holder")
    d = check.drgn_check(k, vmcore, expect_comm=facts["comm"])
    print(f"{suite}: {k.release}: crash cycle {result['seconds']}s, vmcore {os.path.getsize(vmcore)} bytes, "
          f"panic task {facts['comm']} pid {facts['pid']}, drgn agrees ({d['comm']})")


def test_negative():
    """The crash check must fail on a dump whose kernel text is zeroed."""
    vmcore = shared_vmcore("bookworm")
    k = kernels.kernel("bookworm")
    bad = os.path.join(RUNS, "negative.vmcore")
    check.zero_kernel_text(vmcore, bad)
    try:
        check.crash_check(k, bad)
    except LabError as e:
        print(f"the crash check rejects the damaged dump, as it must: {str(e).splitlines()[0]}")
        return
    finally:
        os.unlink(bad)
    raise LabError("the crash check passed a vmcore whose kernel text was zeroed")


def test_boot_death():
    """Only a kernel that dies before the stage-1 init speaks is booted again:
    the Oops seen in CI, not an arming failure, a capture's crash or the
    sysrq panic every cycle makes."""
    oops = "[    0.91] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI\n[    0.91] RIP: 0010:sched_clock_cpu+0x1e/0x190\n"
    first = "KDLAB: stage=first release=6.12.57+deb13-amd64\n"
    cases = [("a boot that dies", "[    0.00] Linux version 6.12\n" + oops, True),
             ("an Oops after the init ran", first + oops, False),
             ("the sysrq panic", first + "KDLAB: crashing how=sysrq\nKernel panic - not syncing: sysrq triggered crash\n",
              False),
             ("a boot that never arms", first + "KDLAB: kexec failed\n", False),
             ("a clean boot", "[    0.00] Linux version 6.12\n", False)]
    with tempfile.TemporaryDirectory() as d:
        console = os.path.join(d, "console.log")
        for name, text, retried in cases:
            with open(console, "w") as f:
                f.write(text)
            death = _died_booting(console)
            if bool(death) != retried:
                raise LabError(f"{name}: {'booted again' if death else 'not booted again'} ({death})")
            print(f"{name}: {'booted again: ' + death if death else 'judged as it is'}")

        # The loop itself: a guest that dies in its boot once, then boots.
        # It runs twice, and says so on stderr only: stdout of `lab vmcore`
        # is the vmcore's path (CI once read the notice as the path).
        class FakeGuest:
            runs = 0

            def run(self, console_path, timeout, nmi_on=None, marks=None):
                self.runs += 1
                with open(console_path, "w") as f:
                    f.write(cases[0][1] if self.runs == 1 else first)
                return {}

        cfg = types.SimpleNamespace(timeout=10, crash="sysrq")
        guest, out = FakeGuest(), io.StringIO()
        with contextlib.redirect_stdout(out):
            boot(guest, console, cfg)
        if guest.runs != 2 or out.getvalue():
            raise LabError(f"boot ran the guest {guest.runs} times and printed {out.getvalue()!r} on stdout")
        print("a boot that dies once: booted again, nothing on stdout")


class Receiver(threading.Thread):
    """A TCP listener on the host's loopback; slirp maps 10.0.2.2 to it."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(900)
        self.port = self.sock.getsockname()[1]
        self.data = b""

    def run(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            while chunk := conn.recv(1 << 16):
                self.data += chunk


def check_core_head(blob, k, cpus, where):
    """The head of a vmcore: an ELF core whose notes carry one NT_PRSTATUS per
    CPU and a VMCOREINFO naming this kernel."""
    if blob[:4] != b"\x7fELF" or blob[16] != 4:
        raise LabError(f"{where}: not an ELF core")
    if blob.count(b"CORE\x00") < cpus:
        raise LabError(f"{where}: fewer than {cpus} CORE notes")
    if f"OSRELEASE={k.release}\n".encode() not in blob:
        raise LabError(f"{where}: VMCOREINFO does not name {k.release}")


def test_program():
    """Mode (b): a static program of ours runs in the capture kernel and
    writes to a disk and to the host over the network."""
    k = kernels.kernel("bookworm")
    probe = os.environ["KDLAB_PROBE"]
    rx = Receiver()
    rx.start()
    cmd = (f"vmcore-probe --out $TARGET_DISK && vmcore-probe --tcp $HOST_IP:{rx.port}")
    cfg = RunConfig(mode="program", programs=[probe], capture_cmd=cmd, net=True, target_disk_mb=64,
                    workload=os.environ["KDLAB_WORKLOAD"], anon_mb=16, zero_mb=16, tmpfs_mb=16, file_mb=0)
    result = crash_cycle(k, cfg, os.path.join(RUNS, "program"))
    rx.join(timeout=30)
    with open(result["target_disk"], "rb") as f:
        disk = f.read(16 << 20)
    check_core_head(disk, k, 2, "target disk")
    check_core_head(rx.data, k, 2, "network")
    if not disk.startswith(rx.data):
        raise LabError("the disk and the network received different bytes")
    print(f"program mode: {len(rx.data)} bytes of core head over the network and on disk, "
          f"cycle {result['seconds']}s")


if __name__ == "__main__":
    sys.exit(test_main({"cache": test_cache, "bookworm": lambda: test_kernel("bookworm"),
                        "trixie": lambda: test_kernel("trixie"), "negative": test_negative,
                        "program": test_program, "boot-death": test_boot_death}, sys.argv))
