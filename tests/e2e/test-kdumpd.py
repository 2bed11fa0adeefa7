#!/usr/bin/python3
"""dumptool sends lab vmcores to a real kdumpd on loopback (meson test --suite e2e).
  test-kdumpd.py loopback | security | restart | loss"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kdlab import check, kernels  # noqa: E402
from kdlab.util import LabError, test_main  # noqa: E402

LAB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lab")
PROXY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "udp-impair")
RUNS = os.environ["KDLAB_RUNS"]
DUMPTOOL = os.environ["KDLAB_DUMPTOOL"]
KDUMPD = os.environ["KDLAB_KDUMPD"]


def shared_vmcore(suite):
    p = subprocess.run([LAB, "vmcore", suite, "--dir", os.path.join(RUNS, suite)], stdout=subprocess.PIPE)
    if p.returncode:
        raise LabError(f"no {suite} vmcore")
    return p.stdout.decode().strip()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A kdumpd in a fresh directory, with one key named labhost: a host_key
    (dumps filed under its name) or a fleet_key (under the claimed hostname)."""

    def __init__(self, name, extra="", kind="host_key"):
        self.root = os.path.join(RUNS, "kdumpd", name)
        shutil.rmtree(self.root, ignore_errors=True)
        os.makedirs(self.root)
        self.port = free_port()
        self.key = os.path.join(self.root, "host.key")
        self.conf = os.path.join(self.root, "kdumpd.conf")
        subprocess.run([KDUMPD, "keygen", self.key], check=True)
        with open(self.conf, "w") as f:
            f.write(f"listen 127.0.0.1:{self.port}\ndump_dir {self.root}/crash\nindex {self.root}/index.db\n"
                    f"{kind} labhost {self.key}\nmin_free 0\n{extra}")
        self.proc = None
        self.log = os.path.join(self.root, "kdumpd.log")

    def start(self):
        self.proc = subprocess.Popen([KDUMPD, "serve", "-c", self.conf], stderr=open(self.log, "a"))
        for _ in range(100):
            if "listening on" in open(self.log).read():
                return
            time.sleep(0.05)
        raise LabError("kdumpd did not start: " + open(self.log).read())

    def stop(self, sig=signal.SIGTERM):
        if self.proc:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
            self.proc = None

    def cli(self, *args):
        p = subprocess.run([KDUMPD, *args, "-c", self.conf], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode:
            raise LabError(f"kdumpd {' '.join(args)}: {p.stderr.decode()}")
        return p.stdout.decode()

    def dumps(self):
        return [json.loads(line) for line in self.cli("list", "--json").splitlines()]

    def url(self, port=None):
        return f"udp://127.0.0.1:{port or self.port}"


def send(vmcore, url, key, *extra, expect=0, timeout=600):
    p = subprocess.run([DUMPTOOL, "-l", "-d", "31", "--secret", key, *extra, vmcore, url],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    err = p.stderr.decode()
    if p.returncode != expect:
        raise LabError(f"dumptool to {url} exited {p.returncode}, not {expect}: {err}")
    return err


def local_dump(vmcore, name):
    os.makedirs(os.path.join(RUNS, "kdumpd"), exist_ok=True)
    out = os.path.join(RUNS, "kdumpd", name)
    for p in (out, out + "-incomplete"):
        if os.path.exists(p):
            os.unlink(p)
    subprocess.run([DUMPTOOL, "-l", "-d", "31", vmcore, out], check=True, stderr=subprocess.DEVNULL)
    return out


def same_file(a, b):
    return subprocess.run(["cmp", "-s", a, b]).returncode == 0


def stored(server, reference, expect_status="complete"):
    """The one dump in the index: its files, and its vmcore against the reference."""
    d = server.dumps()
    if len(d) != 1 or d[0]["status"] != expect_status:
        raise LabError(f"the index holds {d}, not one {expect_status} dump")
    path = os.path.join(server.root, "crash", d[0]["dir"])
    for name in ("vmcore", "vmcore-dmesg.txt", "log", "crash.json"):
        st = os.stat(os.path.join(path, name))
        if st.st_mode & 0o777 != 0o600:
            raise LabError(f"{name} has mode {st.st_mode & 0o777:o}, not 600")
    if not same_file(os.path.join(path, "vmcore"), reference):
        raise LabError("the stored vmcore differs from dumptool's local dump with the same options")
    return d[0], path


def test_loopback():
    """A -d 31 dump over UDP is stored byte-identical to the local dump, with
    its log, crash.json and index entry; it passes the crash check."""
    k = kernels.kernel("trixie")
    vmcore = shared_vmcore("trixie")
    reference = local_dump(vmcore, "loopback.local")
    s = Server("loopback")
    s.start()
    try:
        err = send(vmcore, s.url(), s.key)
    finally:
        s.stop()
    d, path = stored(s, reference)
    with open(os.path.join(path, "vmcore-dmesg.txt")) as f:
        if "sysrq triggered crash" not in f.read():
            raise LabError("vmcore-dmesg.txt lacks the panic")
    if d["host"] != "labhost" or "sysrq triggered crash" not in d["reason"] or len(d["signature"]) != 64:
        raise LabError(f"index entry: {d}")
    if d["release"] != k.release:
        raise LabError(f"index release {d['release']} is not {k.release}")
    check.crash_check(k, os.path.join(path, "vmcore"), expect_ps="kdlab-holder")
    print(err.strip().splitlines()[-1])
    print(f"loopback: stored byte-identical ({d['size']} bytes), crash check passes; "
          f"index: {d['host']} {d['release']} {d['reason']!r} {d['signature'][:12]}")
    print(s.cli("list"))


def test_lab():
    """The whole path: a guest crashes; its capture kernel (busybox, udhcpc,
    the virtio-net modules, the static dumptool) sends the dump to kdumpd on
    the host through slirp's 10.0.2.2; kdumpd lists the guest's host name,
    release and panic reason, and the stored dump passes the crash check."""
    k = kernels.kernel("trixie")
    s = Server("lab", kind="fleet_key")
    out = os.path.join(s.root, "run")
    cmd = f"dumptool -l -d 31 --secret /etc/kdumpkit/fleet.key /proc/vmcore udp://10.0.2.2:{s.port}"
    s.start()
    try:
        p = subprocess.run([LAB, "run", "trixie", "--out", out, "--mode", "program", "--program", DUMPTOOL, "--net",
                            "--hostname", "web01", "--mem", "1024", "--file", f"{s.key}:/etc/kdumpkit/fleet.key",
                            "--capture-cmd", cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    finally:
        s.stop()
    if p.returncode:
        raise LabError(f"the lab run failed: {p.stderr.decode()[-3000:]}")
    r = json.loads(p.stdout)
    if not r["facts"].get("dhcp", "").startswith("10.0.2."):
        raise LabError(f"the capture kernel got no DHCP lease: {r['facts']}")
    d = s.dumps()
    if len(d) != 1 or d[0]["status"] != "complete":
        raise LabError(f"the index holds {d}, not one complete dump")
    d = d[0]
    if d["host"] != "web01" or d["release"] != k.release or "sysrq triggered crash" not in d["reason"]:
        raise LabError(f"index entry: {d}")
    path = os.path.join(s.root, "crash", d["dir"])
    with open(os.path.join(path, "log")) as f:
        if "sysrq triggered crash" not in f.read():
            raise LabError("the stored log lacks the panic")
    check.crash_check(k, os.path.join(path, "vmcore"), expect_ps="kdlab-holder")
    listing = s.cli("list")
    if "web01" not in listing or "sysrq triggered crash" not in listing:
        raise LabError(f"kdumpd list: {listing}")
    m = r["marks"]
    print(f"lab cycle: {d['size']} bytes stored from web01 ({r['facts']['dhcp']}), crash check passes; "
          f"panic to capture kernel {m['capture'] - m['crash']:.1f} s, to a complete dump on kdumpd "
          f"{d['finished'] - m['crash']:.0f} s (kdumpd's clock, whole seconds), guest run {r['seconds']} s")
    print(listing)


def datagrams(kind, n=1):
    """Hostile datagrams: truncated, oversized, unknown type, garbage."""
    hdr = lambda t, sid=0, pn=0: b"KDKP" + bytes([1, t]) + struct.pack("<HHHIQQ", 32, 0, 0, 0, sid, pn)
    return {"truncated": [hdr(0x10)[:20]], "oversized": [hdr(0x10, 1) + b"\0" * 20000],
            "unknown": [hdr(0x7f, 5, 1) + b"\0" * 64], "garbage": [os.urandom(200)],
            "forged": [hdr(0x10, 7, 1) + os.urandom(100)]}[kind] * n


def test_security():
    """A wrong key creates nothing; hostile datagrams are dropped and counted."""
    vmcore = shared_vmcore("trixie")
    s = Server("security")
    wrong = os.path.join(s.root, "wrong.key")
    subprocess.run([KDUMPD, "keygen", wrong], check=True)
    s.start()
    try:
        err = send(vmcore, s.url(), wrong, "--net-timeout", "5", expect=1, timeout=120)
        if "no progress for 5 s" not in err or "unknown key id" not in err or "BAD_KEY" not in err:
            raise LabError(f"a wrong key: the client said {err!r}")
        if os.listdir(os.path.join(s.root, "crash")) != [".kdumpd.lock"] or s.dumps():
            raise LabError("a wrong key: something was created")
        print("wrong key: refused, nothing created; client: " + err.strip().splitlines()[-1])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            for kind in ("truncated", "oversized", "unknown", "garbage", "forged"):
                for d in datagrams(kind, 10):
                    c.sendto(d, ("127.0.0.1", s.port))
        time.sleep(0.5)
    finally:
        s.stop()
    log = open(s.log).read()
    counts = log.strip().splitlines()[-1]
    # 20 truncated or garbage and 10 oversized are malformed; 20 name no session.
    if "dropped 30 malformed" not in counts or "20 for unknown sessions" not in counts:
        raise LabError(f"hostile datagrams were not all counted: {counts}")
    print("hostile datagrams: " + counts)


def test_restart():
    """kdumpd killed mid-transfer and restarted: the transfer resumes and the
    dump is identical. Not restarted: the client gives up after its timeout,
    and the index says incomplete."""
    k = kernels.kernel("trixie")
    vmcore = shared_vmcore("trixie")
    reference = local_dump(vmcore, "restart.local")
    # A slow server (rate cap) makes "mid-transfer" certain.
    s = Server("restart", "rate_total 4M\n")
    s.start()
    c = subprocess.Popen([DUMPTOOL, "-l", "-d", "31", "--net-buffer", "4", "--secret", s.key, vmcore, s.url()],
                         stderr=subprocess.PIPE)
    time.sleep(3)
    s.stop(signal.SIGKILL)
    subprocess.run(["pkill", "-KILL", "-f", f"kdumpd serve -c {s.conf}"])
    partial = os.path.getsize(next(os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(s.root, "crash"))
                                   for f in fs if f == "vmcore-incomplete"))
    time.sleep(5)
    s.start()
    err = c.communicate(timeout=600)[1].decode()
    s.stop()
    if c.returncode:
        raise LabError(f"after a restart the client failed: {err}")
    if "1 resumes" not in err:
        raise LabError(f"the client did not resume: {err}")
    d, path = stored(s, reference)
    check.crash_check(k, os.path.join(path, "vmcore"), expect_ps="kdlab-holder")
    print(f"killed after {partial} bytes, restarted 5 s later: resumed; " + err.strip().splitlines()[-1])

    s2 = Server("dead", "rate_total 4M\n")
    s2.start()
    c = subprocess.Popen([DUMPTOOL, "-l", "-d", "31", "--net-timeout", "10", "--secret", s2.key, vmcore, s2.url()],
                         stderr=subprocess.PIPE)
    time.sleep(3)
    s2.stop(signal.SIGKILL)
    subprocess.run(["pkill", "-KILL", "-f", f"kdumpd serve -c {s2.conf}"])
    err = c.communicate(timeout=120)[1].decode()
    if c.returncode != 1 or "no progress for 10 s" not in err:
        raise LabError(f"a dead server: the client exited {c.returncode}: {err}")
    d = s2.dumps()
    if len(d) != 1 or d[0]["status"] != "incomplete":
        raise LabError(f"a dead server: the index says {d}")
    print("dead server: " + err.strip().splitlines()[-1] + f"; kdumpd list: {d[0]['status']}")


def test_loss():
    """Through a seeded proxy that drops, reorders and duplicates, each dump
    arrives byte-identical."""
    vmcore = shared_vmcore("trixie")
    reference = local_dump(vmcore, "loss.local")
    for loss in ("0.01", "0.05", "0.20"):
        s = Server(f"loss-{loss}")
        s.start()
        port_file = os.path.join(s.root, "proxy.port")
        stats = os.path.join(s.root, "proxy.json")
        proxy = subprocess.Popen([sys.executable, PROXY, "--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{s.port}",
                                  "--seed", "7", "--loss", loss, "--dup", "0.01", "--reorder", "0.02",
                                  "--port-file", port_file, "--stats", stats], stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                if os.path.exists(port_file) and open(port_file).read().strip():
                    break
                time.sleep(0.05)
            port = int(open(port_file).read())
            err = send(vmcore, s.url(port), s.key, timeout=1200)
        finally:
            proxy.send_signal(signal.SIGTERM)
            proxy.wait(timeout=30)
            s.stop()
        stored(s, reference)
        st = json.load(open(stats))
        if st["c2s"]["dropped"] == 0:
            raise LabError(f"the proxy dropped nothing at {loss}: {st}")
        print(f"loss {loss}: byte-identical; proxy {st['c2s']}; " + err.strip().splitlines()[-1])


def test_concurrency():
    """50 senders at once, each a re-filtered smaller dump: all complete, each
    byte-identical to its local dump, and kdumpd stats counts them."""
    vmcore = shared_vmcore("trixie")
    small = local_dump(vmcore, "concurrency.small")  # a -d 31 kdump file, re-sent at -d 31
    reference = local_dump(small, "concurrency.local")
    s = Server("concurrency", "max_sessions 64\nmax_sessions_per_host 64\nkeep_per_host 0\n")
    s.start()
    start = time.monotonic()
    try:
        procs = [subprocess.Popen([DUMPTOOL, "-l", "-d", "31", "--secret", s.key, small, s.url()],
                                  stderr=subprocess.PIPE) for _ in range(50)]
        errs = [p.communicate(timeout=1200)[1].decode() for p in procs]
    finally:
        s.stop()
    elapsed = time.monotonic() - start
    bad = [e for p, e in zip(procs, errs) if p.returncode]
    if bad:
        raise LabError(f"{len(bad)} of 50 senders failed; first: {bad[0]}")
    d = s.dumps()
    if len(d) != 50 or any(x["status"] != "complete" for x in d):
        raise LabError(f"the index holds {len(d)} dumps: {[x['status'] for x in d]}")
    for x in d:
        if not same_file(os.path.join(s.root, "crash", x["dir"], "vmcore"), reference):
            raise LabError(f"{x['dir']}: differs from the local dump")
    stats = s.cli("stats")
    if "50 dumps (complete 50," not in stats:
        raise LabError(f"kdumpd stats: {stats}")
    total = sum(x["size"] for x in d)
    print(f"50 senders: all complete and byte-identical, {total / 2**20:.0f} MiB in {elapsed:.1f} s "
          f"({total / 2**20 / elapsed:.1f} MiB/s aggregate)")
    print(stats)


if __name__ == "__main__":
    sys.exit(test_main({"lab": test_lab, "loopback": test_loopback, "security": test_security, "restart": test_restart,
                        "loss": test_loss, "concurrency": test_concurrency}, sys.argv))
