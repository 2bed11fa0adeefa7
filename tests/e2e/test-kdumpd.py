#!/usr/bin/python3
"""dumptool sends lab vmcores to a real kdumpd on loopback (meson test --suite e2e).
  test-kdumpd.py loopback | security | restart | restart-early | loss | concurrency | replay |
                 forged | hostname | hook | retention | retention-free"""
import json
import os
import re
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


def shared_vmcore(suite, *options, name=None):
    """The lab's vmcore of suite (made once per build, then shared); with
    lab options, a vmcore of its own under RUNS/name."""
    p = subprocess.run([LAB, "vmcore", suite, "--dir", os.path.join(RUNS, name or suite), *options],
                       stdout=subprocess.PIPE)
    if p.returncode:
        raise LabError(f"no {suite} vmcore {' '.join(options)}")
    return p.stdout.decode().strip()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(parent):
    """The pids whose parent is parent."""
    out = []
    for d in os.listdir("/proc"):
        try:
            if d.isdigit() and re.search(rf"^PPid:\s+{parent}$", open(f"/proc/{d}/status").read(), re.M):
                out.append(int(d))
        except OSError:
            pass  # gone meanwhile
    return out


class Server:
    """A kdumpd in a fresh directory, with one host key, "labhost" (or a
    fleet key, "fleet"): a new one, or a copy of key."""

    def __init__(self, name, extra="", key=None, fleet=False):
        self.root = os.path.join(RUNS, "kdumpd", name)
        shutil.rmtree(self.root, ignore_errors=True)
        os.makedirs(self.root)
        self.port = free_port()
        self.key = os.path.join(self.root, "host.key")
        self.conf = os.path.join(self.root, "kdumpd.conf")
        self.dump_dir = os.path.join(self.root, "crash")
        if key:
            shutil.copyfile(key, self.key)
            os.chmod(self.key, 0o600)
        else:
            subprocess.run([KDUMPD, "keygen", self.key], check=True)
        keyline = f"fleet_key fleet {self.key}" if fleet else f"host_key labhost {self.key}"
        with open(self.conf, "w") as f:
            f.write(f"listen 127.0.0.1:{self.port}\ndump_dir {self.dump_dir}\nindex {self.root}/index.db\n"
                    f"{keyline}\nmin_free 0\n{extra}")
        self.proc = None
        self.log = os.path.join(self.root, "kdumpd.log")

    def start(self, env=None):
        self.proc = subprocess.Popen([KDUMPD, "serve", "-c", self.conf], stderr=open(self.log, "a"),
                                     env={**os.environ, **(env or {})})
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

    def kill(self):
        """SIGKILL for the network child, then the parent: a crash, with no
        chance to make anything durable on the way out."""
        for pid in children(self.proc.pid):
            os.kill(pid, signal.SIGKILL)
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.proc = None

    def configure(self, text):
        """More settings, before start."""
        with open(self.conf, "a") as f:
            f.write(text)

    def cli(self, *args):
        p = subprocess.run([KDUMPD, *args, "-c", self.conf], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode:
            raise LabError(f"kdumpd {' '.join(args)}: {p.stderr.decode()}")
        return p.stdout.decode()

    def dumps(self):
        return [json.loads(line) for line in self.cli("list", "--json").splitlines()]

    def counters(self):
        """The counts the network child logs when it stops (kdumpd must be stopped)."""
        lines = [line for line in open(self.log).read().splitlines() if line.startswith("kdumpd: dropped ")]
        m = re.fullmatch(r"kdumpd: dropped (\d+) malformed, (\d+) unauthenticated, (\d+) for unknown sessions, "
                         r"(\d+) over rate; (\d+) sessions, (\d+) stored", lines[-1] if lines else "")
        if not m:
            raise LabError(f"kdumpd logged no counters: {open(self.log).read()[-2000:]}")
        return dict(zip(("malformed", "auth", "unknown", "rate", "sessions", "stored"), map(int, m.groups())))

    def disk(self):
        """Every directory and file under dump_dir, as paths relative to it."""
        out = set()
        for dp, dns, fns in os.walk(self.dump_dir):
            for n in dns + fns:
                out.add(os.path.relpath(os.path.join(dp, n), self.dump_dir))
        return out

    def dump_dirs(self):
        return {n for n in os.listdir(self.dump_dir) if n != ".kdumpd.lock"}

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
    s = Server("lab", fleet=True)
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
    """A wrong key creates nothing; hostile datagrams are dropped and counted
    (oversized: above the server's max_datagram, here 16384)."""
    vmcore = shared_vmcore("trixie")
    s = Server("security", extra="max_datagram 16384\n")
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


class Proxy:
    """tests/tools/udp-impair in front of a server; with record, every
    client datagram goes to self.record."""

    def __init__(self, server, *options, record=False):
        self.port_file = os.path.join(server.root, "proxy.port")
        self.stats = os.path.join(server.root, "proxy.json")
        self.record = os.path.join(server.root, "client.rec")
        for f in (self.port_file, self.stats, self.record):
            if os.path.exists(f):
                os.unlink(f)
        self.proc = subprocess.Popen([sys.executable, PROXY, "--listen", "127.0.0.1:0",
                                      "--upstream", f"127.0.0.1:{server.port}", "--port-file", self.port_file,
                                      "--stats", self.stats, *(["--record", self.record] if record else []),
                                      *options],
                                     stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(self.port_file) and open(self.port_file).read().strip():
                break
            time.sleep(0.05)
        else:
            self.stop()
            raise LabError("udp-impair did not start")
        self.port = int(open(self.port_file).read())

    def stop(self):
        """Its counters (and the ports it sent from)."""
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
            self.proc = None
        return json.load(open(self.stats))


def test_restart_early():
    """kdumpd killed once crash.json and the log are stored, before its first
    commit (no state saved), then started again: the client's new session
    resumes the dump from offset 0, sends both files once more, and the dump
    is stored byte-identical with its files and signature."""
    vmcore = shared_vmcore("trixie")
    small = local_dump(vmcore, "restart-early.small")
    reference = local_dump(small, "restart-early.local")
    # 64 KiB/s: the file sections take under a second, the first segment
    # boundary (and so the first commit) 16 s.
    s = Server("restart-early", "rate_total 64K\n")
    s.start()
    c = subprocess.Popen([DUMPTOOL, "-l", "-d", "31", "--secret", s.key, small, s.url()], stderr=subprocess.PIPE)
    try:
        path = None
        for _ in range(1200):
            dirs = s.dump_dirs() if os.path.isdir(s.dump_dir) else set()
            path = os.path.join(s.dump_dir, dirs.pop()) if dirs else None
            if (path and os.path.exists(os.path.join(path, "vmcore-dmesg.txt"))) or c.poll() is not None:
                break
            time.sleep(0.05)
        s.kill()
        state = open(os.path.join(path, "vmcore-incomplete.state"), "rb").read() if path else b"x"
        if c.poll() is not None or not os.path.exists(os.path.join(path, "crash.json")) or any(state):
            raise LabError(f"not killed between the file sections and the first commit: {os.listdir(path or '.')}")
        s.configure("rate_total 125M\n")
        s.start()
        err = c.communicate(timeout=600)[1].decode()
    finally:
        if c.poll() is None:
            c.kill()
            c.wait()
        s.stop()
    if c.returncode:
        raise LabError(f"after a restart before the first commit the client failed: {err}")
    d, path = stored(s, reference)
    log = open(s.log).read()
    if f"resuming labhost (127.0.0.1, {d['release']}) as {d['dir']}, from offset 0" not in log:
        raise LabError(f"kdumpd did not resume the dump from 0: {log}")
    if not re.fullmatch(r"[0-9a-f]{64}", d["signature"]) or "sysrq triggered crash" not in d["reason"]:
        raise LabError(f"the index lost the signature: {d}")
    print(f"killed with crash.json and the log stored, state file empty; resumed from 0, stored byte-identical "
          f"({d['size']} bytes); " + err.strip().splitlines()[-1])


def datagram_size(err):
    """The datagram size dumptool's closing line reports."""
    line = err.strip().splitlines()[-1]
    m = re.search(r"(\d+)-byte datagrams", line)
    if not m:
        raise LabError(f"no datagram size in dumptool's last line: {line}")
    return int(m.group(1))


def test_loss():
    """Through a seeded proxy that drops, reorders and duplicates, each dump
    arrives byte-identical: with the large frames loopback allows, and with
    the base size of an MTU of 1500 (--mtu 1500)."""
    vmcore = shared_vmcore("trixie")
    reference = local_dump(vmcore, "loss.local")
    for loss, mtu in (("0.01", None), ("0.05", None), ("0.20", None), ("0.05", "1500"), ("0.20", "1500")):
        s = Server(f"loss-{loss}-{mtu or 'auto'}")
        s.start()
        try:
            proxy = Proxy(s, "--seed", "7", "--loss", loss, "--dup", "0.01", "--reorder", "0.02")
            try:
                err = send(vmcore, s.url(proxy.port), s.key, *(["--mtu", mtu] if mtu else []), timeout=1200)
            finally:
                st = proxy.stop()
        finally:
            s.stop()
        stored(s, reference)
        if st["c2s"]["dropped"] == 0:
            raise LabError(f"the proxy dropped nothing at {loss}: {st}")
        # Under loss, timeouts may send a session back to the base size for a
        # while (§6.7), so only the ceiling --mtu sets is a fact to check.
        size = datagram_size(err)
        if mtu and size != 1472:
            raise LabError(f"loss {loss}, --mtu {mtu}: the transfer ended with {size}-byte datagrams")
        print(f"loss {loss}, {size}-byte datagrams: byte-identical; proxy {st['c2s']}; " + err.strip().splitlines()[-1])


def test_frames():
    """Large frames are used only where a probe got through: on loopback
    the client ends at 16384-byte datagrams (kdumpd's default max_datagram),
    or at 65507 (v1's ceiling, loopback's MTU less 29) with max_datagram
    65507, or 8972 with 8972; behind a path that silently drops datagrams
    above 1500 bytes (a black hole), its probes go unanswered and it stays
    at 1472. Each dump arrives byte-identical."""
    vmcore = shared_vmcore("trixie")
    reference = local_dump(vmcore, "frames.local")
    for limit, cap, want in ((0, 0, 16384), (1500, 0, 1472), (0, 65507, 65507), (0, 8972, 8972)):
        s = Server(f"frames-{limit}-{cap}", extra=f"max_datagram {cap}\n" if cap else "")
        s.start()
        proxy = Proxy(s, *(["--max-size", str(limit)] if limit else []))
        try:
            err = send(vmcore, s.url(proxy.port), s.key, timeout=600)
        finally:
            st = proxy.stop()
            s.stop()
        stored(s, reference)
        size = datagram_size(err)
        if size != want:
            raise LabError(f"path limit {limit or 'none'}, max_datagram {cap or 'default'}: the transfer used "
                           f"{size}-byte datagrams, not {want}")
        if limit and not st["c2s"]["too_big"]:
            raise LabError(f"the client never tried a datagram above {limit} bytes: {st}")
        print(f"path limit {limit or 'none'}, max_datagram {cap or 'default'}: {size}-byte datagrams, "
              f"{st['c2s']['too_big']} too big dropped; " + err.strip().splitlines()[-1])


def test_concurrency():
    """50 senders at once, each a re-filtered smaller dump: all complete, each
    byte-identical to its local dump, and kdumpd stats counts them."""
    vmcore = shared_vmcore("trixie")
    small = local_dump(vmcore, "concurrency.small")  # a -d 31 kdump file, re-sent at -d 31
    reference = local_dump(small, "concurrency.local")
    s = Server("concurrency", "max_sessions 64\nmax_sessions_per_host 64\nkeep_per_host 0\nmax_dumps_per_host 0\n")
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
    # By signature, by kernel and by host: one row each, counting all 50.
    sig, release = d[0]["signature"], d[0]["release"]
    for key in (sig, release, "labhost"):
        if not re.search(rf"^\s+50\s+1\s+{re.escape(key)}\b", stats, re.M):
            raise LabError(f"kdumpd stats has no row of 50 dumps, 1 host for {key}: {stats}")
    # list --since: from the second the median dump came in, exactly the
    # dumps received then or later.
    median = sorted(x["received"] for x in d)[25]
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(median))
    listed = [json.loads(line)["id"] for line in s.cli("list", "--since", since, "--json").splitlines()]
    want = [x["id"] for x in d if x["received"] >= median]
    if listed != want or not 0 < len(listed) < 50:
        raise LabError(f"list --since {since!r}: {len(listed)} dumps, want {len(want)}")
    p = subprocess.run([KDUMPD, "list", "--since", "yesterday", "-c", s.conf], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if p.returncode == 0 or not p.stderr.strip():
        raise LabError(f"list --since yesterday: exit {p.returncode}, {p.stderr!r}")
    print(f"list --since {since!r}: {len(listed)} of 50; a bad time: {p.stderr.decode().strip()}")
    total = sum(x["size"] for x in d)
    print(f"50 senders: all complete and byte-identical, {total / 2**20:.0f} MiB in {elapsed:.1f} s "
          f"({total / 2**20 / elapsed:.1f} MiB/s aggregate)")
    print(stats)


KDKP_TYPES = {0x01: "HELLO", 0x02: "CHALLENGE", 0x03: "INIT", 0x04: "ACCEPT", 0x05: "ERROR", 0x10: "DATA",
              0x11: "ACK", 0x12: "PING", 0x13: "PONG", 0x14: "FIN", 0x15: "RESULT"}


def kdkp_type(d):
    return KDKP_TYPES.get(d[5], f"0x{d[5]:02x}") if len(d) >= 6 and d[:5] == b"KDKP\x01" else "not KDKP/1"


def kdkp_ids(d):
    """A datagram's session_id and pn (docs/protocol.md §3.1)."""
    return struct.unpack_from("<QQ", d, 16)


def recorded(path):
    """The client datagrams udp-impair --record has written so far."""
    data, out, at = open(path, "rb").read(), [], 0
    while at + 4 <= len(data):
        n, = struct.unpack_from("<I", data, at)
        if at + 4 + n > len(data):
            break  # the proxy is writing it
        out.append(data[at + 4:at + 4 + n])
        at += 4 + n
    return out


def replay(port, datagrams, avoid_ports, batch=128, from_port=0):
    """Sends the datagrams to kdumpd from a new socket (on none of the ports
    the recorded session used, which its cookies name; or from from_port, as
    one who can send from the client's address and port would), a batch at
    a time.
    After each batch the first HELLO goes again, and its CHALLENGE is waited
    for: kdumpd reads its socket in order, so every datagram before it has
    then been handled, and never more than a batch waits in the socket's
    buffer. Returns the replies counted by type, and the extra HELLOs."""
    hello = next(d for d in datagrams if kdkp_type(d) == "HELLO")
    socks = []
    try:
        while not socks or (not from_port and socks[-1].getsockname()[1] in avoid_ports):
            socks.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            socks[-1].bind(("127.0.0.1", from_port))
        c = socks[-1]
        replies, syncs, want = {}, 0, 0
        for i in range(0, len(datagrams), batch):
            part = datagrams[i:i + batch]
            for d in part:
                c.sendto(d, ("127.0.0.1", port))
            c.sendto(hello, ("127.0.0.1", port))
            syncs += 1
            want += sum(kdkp_type(d) == "HELLO" for d in part) + 1
            c.settimeout(60)
            while replies.get("CHALLENGE", 0) < want:
                try:
                    r = c.recv(65536)
                except socket.timeout:
                    raise LabError(f"kdumpd did not answer a HELLO within 60 s, after {i + len(part)} datagrams")
                replies[kdkp_type(r)] = replies.get(kdkp_type(r), 0) + 1
        return replies, syncs
    finally:
        for x in socks:
            x.close()


def test_replay():
    """Every client datagram of a complete session, replayed at a fresh
    kdumpd with the same key, then at the kdumpd that stored the dump: no
    dump and no file, nothing back but the CHALLENGE a HELLO always draws,
    and every replayed INIT and session packet counted as dropped."""
    vmcore = shared_vmcore("trixie")
    small = local_dump(vmcore, "replay.small")
    reference = local_dump(small, "replay.local")
    s = Server("replay")
    s.start()
    try:
        proxy = Proxy(s, record=True)
        try:
            send(small, s.url(proxy.port), s.key)
        finally:
            pstats = proxy.stop()
        stored(s, reference)
        sent = recorded(proxy.record)
        kinds = {}
        for d in sent:
            kinds[kdkp_type(d)] = kinds.get(kdkp_type(d), 0) + 1
        if len(sent) != pstats["c2s"]["packets"] or not all(kinds.get(k) for k in ("HELLO", "INIT", "DATA", "FIN")):
            raise LabError(f"the recording is not a whole session: {kinds}, proxy {pstats}")
        hellos, inits = kinds["HELLO"], kinds["INIT"]
        others = len(sent) - hellos - inits
        before, index = s.disk(), s.dumps()

        fresh = Server("replay-fresh", key=s.key)
        fresh.start()
        try:
            replies, syncs = replay(fresh.port, sent, pstats["upstream_ports"])
        finally:
            fresh.stop()
        n = fresh.counters()
        if replies != {"CHALLENGE": hellos + syncs}:
            raise LabError(f"a fresh kdumpd answered the replay with {replies}")
        if (n["auth"], n["unknown"], n["malformed"], n["sessions"], n["stored"]) != (inits, others, 0, 0, 0):
            raise LabError(f"a fresh kdumpd counted {n} for {inits} INITs and {others} session packets")
        if fresh.disk() != {".kdumpd.lock"} or fresh.dumps():
            raise LabError(f"a fresh kdumpd created {fresh.disk()}, index {fresh.dumps()}")
        print(f"{len(sent)} datagrams {kinds} replayed at a fresh kdumpd: {replies}; counted {n}")

        replies, syncs = replay(s.port, sent, pstats["upstream_ports"])
        # Once the closed session is gone (its 10 s linger), but while the
        # recorded INIT's cookie still holds (30 s), from the client's own
        # port, which the cookie names: the INIT must not make the session
        # again, under keys whose pns would start over (nonce reuse).
        time.sleep(11)
        late, late_syncs = replay(s.port, sent, pstats["upstream_ports"], from_port=pstats["upstream_ports"][0])
    finally:
        s.stop()
    n = s.counters()
    if replies != {"CHALLENGE": hellos + syncs}:
        raise LabError(f"the kdumpd that stored the dump answered the replay with {replies}")
    if late != {"CHALLENGE": hellos + late_syncs}:
        raise LabError(f"after the session's linger, the replayed INIT drew {late}: the session was made again")
    # While the closed session lingers (10 s) its packets fail the replay
    # window; after that they name no session. Either way, each is counted.
    if n["auth"] + n["unknown"] != 2 * (inits + others) or n["auth"] < 2 * inits or (n["sessions"], n["stored"]) != (1, 1):
        raise LabError(f"the kdumpd that stored the dump counted {n} for twice {inits} INITs and {others} session packets")
    if s.disk() != before or s.dumps() != index:
        raise LabError(f"the replay changed the dump directory or the index: {s.disk() ^ before}")
    print(f"replayed at the kdumpd that stored it, at once and 11 s later: {replies}, {late}; counted {n}; "
          f"{len(before)} paths and the index unchanged")


def forgery(kind, session_id, pn, body_len, features=0):
    """A session packet with a plausible header (the session's features, as
    an eavesdropper sees them) and random bytes for its ciphertext and tag."""
    header = b"KDKP" + bytes([1, kind]) + struct.pack("<HHHIQQ", 32, 0, features, 0, session_id, pn)
    return header + os.urandom(body_len + 16)


def test_forged():
    """Forged packets in a live session: DATA (and a FIN, a PING, an ERROR)
    with its session id, plausible pns and wrong tags, and client DATA with
    one ciphertext bit flipped on the way (udp-impair --corrupt: the header
    as sent, its pn not yet used). The dump arrives byte-identical, and
    kdumpd counts each forgery as unauthenticated and nothing else."""
    vmcore = shared_vmcore("trixie")
    reference = local_dump(vmcore, "forged.local")
    s = Server("forged", "rate_total 4M\n")  # slow, so that the session is live for a while
    s.start()
    c, proxy, forged, running = None, None, [], False
    try:
        proxy = Proxy(s, "--seed", "11", "--corrupt", "0.01", record=True)
        c = subprocess.Popen([DUMPTOOL, "-l", "-d", "31", "--secret", s.key, vmcore, s.url(proxy.port)],
                             stderr=subprocess.PIPE)
        for _ in range(3000):
            sent = recorded(proxy.record)
            data = [kdkp_ids(d) for d in sent if kdkp_type(d) == "DATA"]
            if len(data) >= 200 or c.poll() is not None:
                break
            time.sleep(0.1)
        inits = [kdkp_ids(d)[0] for d in sent if kdkp_type(d) == "INIT"]
        if len(data) < 200 or not inits or {sid for sid, _ in data} != {inits[-1]}:
            raise LabError(f"no live session to forge into: {len(data)} DATA, INITs {inits}")
        sid, top = inits[-1], max(pn for _, pn in data)
        feat = struct.unpack_from("<H", next(d for d in sent if kdkp_type(d) == "INIT"), 10)[0]
        forged = [forgery(0x10, sid, top + 1 + i, 8 + 1416, feat) for i in range(64)]    # the pns it will use next
        forged += [forgery(0x10, sid, pn, 8 + 1416, feat) for pn in (top + 1000, top + 5000, 1 << 40)]
        forged += [forgery(0x10, sid, pn, 8 + 1416, feat) for pn in (top - 1, top - 100)]  # seen ones
        forged += [forgery(0x14, sid, top + 70, 72, feat), forgery(0x12, sid, top + 71, 8, feat),
                   forgery(0x05, sid, top + 72, 42, feat)]
        # And with a feature set the session did not agree: dropped before any tag is checked.
        unagreed = [forgery(0x10, sid, top + 80 + i, 8 + 1416, feat ^ 1) for i in range(8)]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as x:
            for d in forged + unagreed:
                x.sendto(d, ("127.0.0.1", s.port))
        running = c.poll() is None
        err = c.communicate(timeout=600)[1].decode()
    finally:
        if c and c.poll() is None:
            c.kill()
            c.wait()
        pstats = proxy.stop() if proxy else {}
        s.stop()
    if not running:
        raise LabError("the transfer ended before the forgeries were sent: nothing was tested")
    if c.returncode:
        raise LabError(f"with forgeries the client failed: {err}")
    d, _ = stored(s, reference)
    n, corrupted = s.counters(), pstats["c2s"]["corrupted"]
    if corrupted == 0:
        raise LabError(f"udp-impair corrupted nothing: {pstats}")
    if (n["auth"], n["malformed"], n["unknown"], n["sessions"], n["stored"]) != (len(forged) + corrupted, len(unagreed), 0, 1, 1):
        raise LabError(f"kdumpd counted {n} for {len(forged)} forged, {len(unagreed)} with other features "
                       f"and {corrupted} corrupted packets")
    print(f"session {sid:016x}: {len(forged)} forged after pn {top}, {len(unagreed)} with features the session "
          f"did not agree, {corrupted} corrupted on the way; "
          f"stored byte-identical ({d['size']} bytes); counted {n}; " + err.strip().splitlines()[-1])


HOOK_VARS = {"KDUMPD_ID", "KDUMPD_STATUS", "KDUMPD_HOST", "KDUMPD_IP", "KDUMPD_RELEASE", "KDUMPD_REASON",
             "KDUMPD_SIGNATURE", "KDUMPD_SIZE", "KDUMPD_DIR"}


def add_hook(server):
    """A hook that writes its arguments and every KDUMPD_ variable to
    hooks/ID.json."""
    out = os.path.join(server.root, "hooks")
    os.makedirs(out)
    path = os.path.join(server.root, "hook")
    with open(path, "w") as f:
        f.write(f"""#!/usr/bin/python3
import json, os, sys
env = {{k: v for k, v in os.environ.items() if k.startswith("KDUMPD_")}}
out = os.path.join({out!r}, env.get("KDUMPD_ID", "no-id") + ".json")
with open(out + ".tmp", "w") as f:
    json.dump({{"argv": sys.argv[1:], "env": env}}, f)
os.rename(out + ".tmp", out)
""")
    os.chmod(path, 0o755)
    server.configure(f"hook {path}\n")
    return out


def hook_run(out, dump_id):
    """What the hook saw for a dump (it runs after the client has its
    RESULT, so it is waited for)."""
    path = os.path.join(out, f"{dump_id}.json")
    for _ in range(600):
        if os.path.exists(path):
            return json.load(open(path))
        time.sleep(0.1)
    raise LabError(f"the hook did not run for dump {dump_id}: {os.listdir(out)}")


def check_hook(run, d, dump_dir, **want):
    env = run["env"]
    if set(env) != HOOK_VARS or run["argv"]:
        raise LabError(f"the hook got {sorted(env)} and arguments {run['argv']}, not the {len(HOOK_VARS)} of kdumpd(8)")
    want = {"KDUMPD_ID": str(d["id"]), "KDUMPD_STATUS": d["status"], "KDUMPD_HOST": d["host"], "KDUMPD_IP": d["ip"],
            "KDUMPD_RELEASE": d["release"], "KDUMPD_REASON": d["reason"], "KDUMPD_SIGNATURE": d["signature"],
            "KDUMPD_SIZE": str(d["size"]), "KDUMPD_DIR": os.path.join(dump_dir, d["dir"]), **want}
    bad = {k: (env[k], v) for k, v in want.items() if env[k] != v}
    if bad:
        raise LabError(f"hook environment (got, want): {bad}")


def test_hook():
    """The hook runs after a complete dump and after a failed one (the
    server's max_dump_size below the dump), with exactly the nine KDUMPD_
    variables of kdumpd(8), each with the dump's value, and no arguments."""
    k = kernels.kernel("trixie")
    vmcore = shared_vmcore("trixie")
    small = local_dump(vmcore, "hook.small")
    reference = local_dump(small, "hook.local")
    s = Server("hook")
    out = add_hook(s)
    s.start()
    try:
        send(small, s.url(), s.key)
        d, path = stored(s, reference)
        run = hook_run(out, d["id"])
    finally:
        s.stop()
    crash_json = open(os.path.join(path, "crash.json")).read()
    if not re.fullmatch(r"[0-9a-f]{64}", d["signature"]) or d["signature"] not in crash_json:
        raise LabError(f"the index's signature {d['signature']!r} is not crash.json's")
    check_hook(run, d, s.dump_dir, KDUMPD_STATUS="complete", KDUMPD_HOST="labhost", KDUMPD_IP="127.0.0.1",
               KDUMPD_RELEASE=k.release, KDUMPD_SIZE=str(os.path.getsize(reference)),
               KDUMPD_DIR=path)
    if "sysrq triggered crash" not in run["env"]["KDUMPD_REASON"]:
        raise LabError(f"KDUMPD_REASON {run['env']['KDUMPD_REASON']!r}")
    print("complete: " + " ".join(f"{k}={v!r}" for k, v in sorted(run["env"].items())))

    s = Server("hook-failed", "max_dump_size 1M\n")
    out = add_hook(s)
    s.start()
    try:
        err = send(small, s.url(), s.key, expect=1)
        d = s.dumps()
        if len(d) != 1 or d[0]["status"] != "failed":
            raise LabError(f"a dump over max_dump_size: the index says {d}")
        run = hook_run(out, d[0]["id"])
    finally:
        s.stop()
    d = d[0]
    path = os.path.join(s.dump_dir, d["dir"])
    if "DUMP_TOO_LARGE" not in err or os.path.exists(os.path.join(path, "vmcore")):
        raise LabError(f"a dump over max_dump_size: the client said {err!r}; {os.listdir(path)}")
    check_hook(run, d, s.dump_dir, KDUMPD_STATUS="failed", KDUMPD_HOST="labhost", KDUMPD_IP="127.0.0.1",
               KDUMPD_RELEASE=k.release, KDUMPD_SIZE=str(os.path.getsize(os.path.join(path, "vmcore-incomplete"))),
               KDUMPD_DIR=path)
    print("failed: " + " ".join(f"{k}={v!r}" for k, v in sorted(run["env"].items())))
    print("client: " + err.strip().splitlines()[-1])


MAIL_HOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "conf", "kdumpd-hook-mail")
MAILBOX = "/var/mail/root"


def mail_lines(s, d, mail, via):
    """The hook's mail for dump d has its facts."""
    want = [f"Subject: [kdumpd] complete dump from labhost ({d['release']})", f"Reason:    {d['reason']}",
            f"Signature: {d['signature']}", f"Directory: {os.path.join(s.dump_dir, d['dir'])}",
            f"Details:   kdumpd show {d['id']}"]
    missing = [w for w in want if w not in mail]
    if missing:
        raise LabError(f"no mail {via} with {missing}; what arrived: {mail[-1500:]!r}")
    print(f"mail to root {via}: " +
          " | ".join(l for l in mail.splitlines() if l.startswith(("Subject:", "Reason:", "Signature:"))))


def wait_for(read, marker, tries=300):
    text = ""
    for _ in range(tries):
        text = read()
        if marker in text:
            break
        time.sleep(0.1)
    return text


def test_hook_mail():
    """conf/kdumpd-hook-mail, as kdumpd runs it: through the machine's real
    sendmail (scripts/install-deps puts dma there) a mail to root arrives in
    /var/mail/root; with no sendmail that works (as under kdumpd.service's
    read-only /var), by SMTP to a real SMTP server on loopback (aiosmtpd).
    Each has the host, status and release in its subject and the reason,
    signature and directory in its body."""
    if not os.access("/usr/sbin/sendmail", os.X_OK):
        raise LabError("no /usr/sbin/sendmail: run scripts/install-deps (it installs dma)")
    vmcore = shared_vmcore("trixie")
    small = local_dump(vmcore, "hook-mail.small")
    before = os.path.getsize(MAILBOX) if os.path.exists(MAILBOX) else 0

    def mailbox():
        if not os.path.exists(MAILBOX):
            return ""
        with open(MAILBOX, "rb") as f:
            f.seek(before)
            return f.read().decode(errors="replace")
    s = Server("hook-mail", f"hook {os.path.realpath(MAIL_HOOK)}\n")
    s.start()
    try:
        send(small, s.url(), s.key)
        mail = wait_for(mailbox, "Details:")
    finally:
        s.stop()
    mail_lines(s, s.dumps()[0], mail, f"through {os.path.realpath('/usr/sbin/sendmail')}")

    port = free_port()
    s = Server("hook-smtp", f"hook {os.path.realpath(MAIL_HOOK)}\n")
    out = os.path.join(s.root, "smtp.out")
    smtp = subprocess.Popen(["/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"],
                            stdout=open(out, "w"), stderr=subprocess.STDOUT)
    try:
        time.sleep(1)
        if smtp.poll() is not None:
            raise LabError(f"aiosmtpd did not start (install python3-aiosmtpd): {open(out).read()}")
        s.start(env={"KDUMPD_SENDMAIL": "/nonexistent", "KDUMPD_SMTP": f"127.0.0.1:{port}"})
        try:
            send(small, s.url(), s.key)
            mail = wait_for(lambda: open(out).read(), "Details:")
        finally:
            s.stop()
    finally:
        smtp.terminate()
        smtp.wait()
    mail_lines(s, s.dumps()[0], mail, f"by SMTP to 127.0.0.1:{port}")


def test_hostname():
    """A fleet-key client whose vmcore's nodename is ../../etc: the dump goes
    to <ip>-<time> inside dump_dir and nowhere else, and the index, list,
    show, the log and the hook all carry the sanitised name .._.._etc."""
    claimed, clean = "../../etc", ".._.._etc"
    vmcore = shared_vmcore("trixie", "--hostname", claimed, "--mem", "768", "--anon-mb", "32", "--zero-mb", "16",
                           "--tmpfs-mb", "32", "--file-mb", "16", name="trixie-host-etc")
    info = subprocess.run([DUMPTOOL, "info", vmcore], stdout=subprocess.PIPE).stdout.decode()
    if not re.search(r"^hostname: +\.\./\.\./etc$", info, re.M):
        raise LabError(f"the lab's vmcore does not claim {claimed}: {info}")
    s = Server("hostname", fleet=True)
    out = add_hook(s)
    around = {p: set(os.listdir(p)) for p in (RUNS, os.path.dirname(s.root))}
    s.start()
    try:
        err = send(vmcore, s.url(), s.key)
        d = s.dumps()
        if len(d) != 1 or d[0]["status"] != "complete":
            raise LabError(f"the index holds {d}")
        d = d[0]
        run = hook_run(out, d["id"])
        show = s.cli("show", str(d["id"]))
        by_host = [json.loads(line)["id"] for line in s.cli("list", "--host", clean, "--json").splitlines()]
        by_claim = s.cli("list", "--host", claimed, "--json")
    finally:
        s.stop()
    root = os.path.realpath(s.dump_dir)
    if d["host"] != clean or not re.fullmatch(r"127\.0\.0\.1-\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d(-\d+)?", d["dir"]):
        raise LabError(f"index host {d['host']!r}, directory {d['dir']!r}")
    for rel in s.disk():
        p = os.path.realpath(os.path.join(s.dump_dir, rel))
        if os.path.commonpath([root, p]) != root or os.path.islink(os.path.join(s.dump_dir, rel)):
            raise LabError(f"{rel} resolves to {p}, outside {root}")
    if s.dump_dirs() != {d["dir"]} or set(os.listdir(os.path.join(s.dump_dir, d["dir"]))) != \
            {"vmcore", "vmcore-dmesg.txt", "log", "crash.json"}:
        raise LabError(f"dump_dir holds {sorted(s.disk())}")
    new = {p: set(os.listdir(p)) - names for p, names in around.items()}
    if any(new.values()) or os.path.exists(os.path.join(s.dump_dir, claimed)):
        raise LabError(f"created outside dump_dir: {new}")
    check_hook(run, d, s.dump_dir, KDUMPD_HOST=clean, KDUMPD_STATUS="complete")
    if f"Host: {clean}\n" not in show or f"Directory: {s.dump_dir}/{d['dir']}\n" not in show:
        raise LabError(f"kdumpd show: {show}")
    if by_host != [d["id"]] or by_claim.strip():
        raise LabError(f"list --host {clean}: {by_host}; --host {claimed}: {by_claim!r}")
    log = open(s.log).read()
    if claimed in log or f"receiving {clean} " not in log:
        raise LabError(f"the kdumpd log: {log}")
    if f'"hostname": "{claimed}"' not in open(os.path.join(s.dump_dir, d["dir"], "crash.json")).read():
        raise LabError("crash.json is not stored as received")
    print(f"claimed {claimed!r}: stored in {d['dir']} under {s.dump_dir}, index host {d['host']!r}, "
          f"hook KDUMPD_HOST {run['env']['KDUMPD_HOST']!r}; " + err.strip().splitlines()[-1])


def send_stored(s, dump, key=None):
    """Sends dump to s and returns the directory the client was told."""
    err = send(dump, s.url(), key or s.key)
    m = re.search(r"stored as (\S+) \(", err)
    if not m:
        raise LabError(f"the client did not say where it was stored: {err}")
    return m.group(1)


def listed_as_on_disk(s, want):
    """kdumpd list names exactly the dump directories on disk, oldest first,
    and those are want; each complete dump still has its vmcore."""
    d = s.dumps()
    listed = [x["dir"] for x in d]
    text = s.cli("list").splitlines()
    if listed != want or s.dump_dirs() != set(want) or len(text) != len(want) + 1:
        raise LabError(f"kdumpd list {listed} ({len(text) - 1} lines), on disk {sorted(s.dump_dirs())}, want {want}")
    for x in d:
        if x["status"] != "complete" or not os.path.exists(os.path.join(s.dump_dir, x["dir"], "vmcore")):
            raise LabError(f"{x['dir']}: {x['status']}, {os.listdir(os.path.join(s.dump_dir, x['dir']))}")


def retention_run(s, small, want_kept, first=()):
    """Four dumps in a row; after each, the newest want_kept of them (and
    first, sent before) are all that is listed and on disk."""
    dirs = []
    for i in range(4):
        dirs.append(send_stored(s, small))
        listed_as_on_disk(s, [*first, *dirs[-want_kept:]])
    removed = re.findall(r"retention: removing (\S+)", open(s.log).read())
    if removed != dirs[:-want_kept]:
        raise LabError(f"retention removed {removed}, not {dirs[:-want_kept]}")
    return dirs


def test_retention():
    """keep_per_host 2 keeps a host's two newest dumps (another host's dump
    stays), and max_total_size 2.5 dumps keeps the newest two: oldest first,
    directory and index row together, kdumpd list equal to the disk after
    every dump. Dumps removed by hand leave the index too."""
    vmcore = shared_vmcore("trixie")
    small = local_dump(vmcore, "retention.small")
    size = os.path.getsize(local_dump(small, "retention.local"))

    s = Server("retention-keep", "keep_per_host 2\n")
    other = os.path.join(s.root, "other.key")
    subprocess.run([KDUMPD, "keygen", other], check=True)
    s.configure(f"host_key otherhost {other}\n")
    s.start()
    try:
        first = send_stored(s, small, other)
        dirs = retention_run(s, small, 2, [first])
    finally:
        s.stop()
    hosts = [x["host"] for x in s.dumps()]
    if hosts != ["otherhost", "labhost", "labhost"]:
        raise LabError(f"hosts left: {hosts}")
    print(f"keep_per_host 2: kept {first} (otherhost) and {dirs[2:]}; removed {dirs[:2]}")

    s = Server("retention-total", f"keep_per_host 0\nmax_total_size {size * 5 // 2}\n")
    s.start()
    try:
        dirs = retention_run(s, small, 2)
    finally:
        s.stop()
    total = sum(x["size"] for x in s.dumps())
    if total > size * 5 // 2:
        raise LabError(f"{total} bytes kept, over max_total_size {size * 5 // 2}")
    print(f"max_total_size {size * 5 // 2} ({size}-byte dumps): kept {dirs[2:]} ({total} bytes); removed {dirs[:2]}")

    # A dump an admin removes by hand: the index forgets it, and its name
    # (the same second, the same client) is free for the next dump.
    s = Server("retention-by-hand", "keep_per_host 0\n")
    s.start()
    try:
        gone = []
        for _ in range(3):
            gone.append(send_stored(s, small))
            shutil.rmtree(os.path.join(s.dump_dir, gone[-1]))
        kept = send_stored(s, small)
        listed_as_on_disk(s, [kept])
    finally:
        s.stop()
    forgotten = re.findall(r"index: dump \d+'s directory (\S+) was removed", open(s.log).read())
    if sorted(set(forgotten)) != sorted(set(gone)):
        raise LabError(f"removed by hand {gone}, the index forgot {forgotten}")
    print(f"removed by hand: {gone}; the index forgot them, and kdumpd list shows only {kept}")


def test_stall():
    """dumptool's producer stopped for 10 s in the middle of the dump (as a
    slow disk or a long filtering cycle would): the client keeps the session
    alive with PINGs, and after the stall goes on in the same session; no
    second handshake, no resume. The dump is byte-identical."""
    vmcore = shared_vmcore("trixie")
    reference = local_dump(vmcore, "stall.local")
    s = Server("stall")
    s.start()
    c = None
    try:
        c = subprocess.Popen([DUMPTOOL, "-l", "-d", "31", "--secret", s.key, vmcore, s.url()], stderr=subprocess.PIPE)
        producer = None
        for _ in range(400):
            kids = children(c.pid)
            if kids and s.dumps() and os.path.exists(os.path.join(s.dump_dir, s.dumps()[0]["dir"], "crash.json")):
                producer = kids[0]
                break
            time.sleep(0.05)
        if producer is None:
            raise LabError("no producer process to stop")
        os.kill(producer, signal.SIGSTOP)
        time.sleep(10)
        os.kill(producer, signal.SIGCONT)
        err = c.communicate(timeout=600)[1].decode()
    finally:
        if c and c.poll() is None:
            c.kill()
            c.wait()
        s.stop()
    if c.returncode:
        raise LabError(f"after a 10 s stall the client failed: {err}")
    stored(s, reference)
    last = err.strip().splitlines()[-1]
    log = open(s.log).read()
    if " 0 resumes" not in last or "resuming" in log or log.count("receiving labhost") != 1:
        raise LabError(f"a 10 s stall made a new session: {last}; kdumpd: {log}")
    print("producer stopped for 10 s: one session, byte-identical; " + last)


def test_deferred():
    """max_sessions 1: while one dump is received, a second client is
    DEFERRED. Its crash.json and log are stored at once, before the first
    dump ends (why it crashed is kept while it waits); it comes back and its
    dump is stored too. Both are byte-identical to the local dump."""
    vmcore = shared_vmcore("trixie")
    small = local_dump(vmcore, "deferred.small")
    reference = local_dump(small, "deferred.local")
    s = Server("deferred", "max_sessions 1\nmax_sessions_per_host 4\nkeep_per_host 0\nrate_total 6M\n")
    s.start()
    first = second = None
    try:
        first = subprocess.Popen([DUMPTOOL, "-l", "-d", "31", "--secret", s.key, small, s.url()], stderr=subprocess.PIPE)
        for _ in range(200):
            if s.dump_dirs():
                break
            time.sleep(0.05)
        first_dir = s.dump_dirs().pop()
        second = subprocess.Popen([DUMPTOOL, "-l", "-d", "31", "--secret", s.key, small, s.url()], stderr=subprocess.PIPE)
        early = None
        for _ in range(600):
            for d in s.dump_dirs() - {first_dir}:
                files = os.listdir(os.path.join(s.dump_dir, d))
                first_files = os.listdir(os.path.join(s.dump_dir, first_dir))
                if "crash.json" in files and "log" in files and "vmcore" not in first_files and first.poll() is None:
                    early = d
            if early or second.poll() is not None:
                break
            time.sleep(0.05)
        errs = [p.communicate(timeout=600)[1].decode() for p in (first, second)]
    finally:
        for p in (first, second):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        s.stop()
    if first.returncode or second.returncode:
        raise LabError(f"clients exited {first.returncode}, {second.returncode}: {errs}")
    if not early:
        raise LabError("the second client's crash.json and log were not stored while the first dump was received")
    deferrals = re.search(r"(\d+) deferrals", errs[1].strip().splitlines()[-1])
    if "deferred: crash.json and the log are kept" not in open(s.log).read() or not deferrals or \
            int(deferrals.group(1)) < 1:
        raise LabError(f"no deferral: {open(s.log).read()} / {errs[1]}")
    d = s.dumps()
    if len(d) != 2 or any(x["status"] != "complete" for x in d):
        raise LabError(f"the index holds {d}")
    for x in d:
        if not same_file(os.path.join(s.dump_dir, x["dir"], "vmcore"), reference):
            raise LabError(f"{x['dir']}: differs from the local dump")
        if "sysrq triggered crash" not in x["reason"]:
            raise LabError(f"{x['dir']}: reason {x['reason']!r}")
    print(f"deferred {early}: crash.json and log stored while the first dump was received; both stored "
          "byte-identical; " + errs[1].strip().splitlines()[-1])


def test_meta_only():
    """Below min_free a dump is REFUSED, but its crash.json and log are kept:
    the client exits 1 with one line saying so, the directory holds them and
    no vmcore, the index says meta-only with the reason and signature, and
    the hook runs with that status."""
    vmcore = shared_vmcore("trixie")
    s = Server("meta-only", "min_free 1000T\n")  # no filesystem has that much free
    hooks = add_hook(s)
    s.start()
    try:
        err = send(vmcore, s.url(), s.key, expect=1)
    finally:
        s.stop()
    last = err.strip().splitlines()[-1]
    if not re.search(r"failed: the server stored only crash.json and the log, as \S+, and refused the dump \(DISK_FULL\)$",
                     last):
        raise LabError(f"the client said: {last}")
    d = s.dumps()
    if len(d) != 1 or d[0]["status"] != "meta-only" or "sysrq triggered crash" not in d[0]["reason"] or \
            not re.fullmatch(r"[0-9a-f]{64}", d[0]["signature"]):
        raise LabError(f"the index holds {d}")
    files = sorted(os.listdir(os.path.join(s.dump_dir, d[0]["dir"])))
    if files != ["crash.json", "log", "vmcore-dmesg.txt"]:
        raise LabError(f"{d[0]['dir']} holds {files}")
    check_hook(hook_run(hooks, d[0]["id"]), d[0], s.dump_dir, KDUMPD_STATUS="meta-only")
    print(f"min_free not met: {d[0]['dir']} holds {files}, index {d[0]['status']} {d[0]['reason']!r}; client: {last}")

    # A machine in a crash loop: past max_dumps_per_host in a day, the same.
    small = local_dump(vmcore, "meta-only.small")
    s = Server("daily-cap", "max_dumps_per_host 2\nkeep_per_host 0\n")
    s.start()
    try:
        for _ in range(2):
            send(small, s.url(), s.key)
        err = send(small, s.url(), s.key, expect=1)
    finally:
        s.stop()
    last = err.strip().splitlines()[-1]
    statuses = [x["status"] for x in s.dumps()]
    if not last.endswith("and refused the dump (RATE_LIMIT)") or statuses != ["complete", "complete", "meta-only"]:
        raise LabError(f"max_dumps_per_host 2: the third client said {last!r}; the index says {statuses}")
    print(f"max_dumps_per_host 2: {statuses}; the third client: {last}")


def test_abandoned():
    """A client killed in the middle of its dump: once the session idles out
    the running kdumpd lists the dump incomplete (a client of the same dump
    could still resume it). Retention spares it for resume_keep: with the
    default it survives the next dump's retention (keep_per_host 1), with
    resume_keep 0 that retention removes it."""
    vmcore = shared_vmcore("trixie")
    small = local_dump(vmcore, "abandoned.small")
    for keep, spared in (("3600", True), ("0", False)):
        s = Server(f"abandoned-{keep}", f"idle_timeout 2\nrate_total 4M\nkeep_per_host 1\nresume_keep {keep}\n")
        s.start()
        try:
            c = subprocess.Popen([DUMPTOOL, "-l", "-d", "31", "--secret", s.key, small, s.url()], stderr=subprocess.DEVNULL)
            for _ in range(200):
                if s.dumps() and s.dumps()[0]["status"] == "receiving":
                    break
                time.sleep(0.05)
            time.sleep(1)
            c.kill()
            c.wait()
            for _ in range(100):
                if s.dumps()[0]["status"] == "incomplete":
                    break
                time.sleep(0.1)
            first = s.dumps()[0]
            if first["status"] != "incomplete":
                raise LabError(f"a killed client's dump, kdumpd running: {first['status']}, not incomplete")
            send(small, s.url(), s.key, "--net-timeout", "60")
        finally:
            s.stop()
        left = [(x["dir"], x["status"]) for x in s.dumps()]
        kept = any(d == first["dir"] for d, _ in left)
        if kept != spared or kept != os.path.isdir(os.path.join(s.dump_dir, first["dir"])):
            raise LabError(f"resume_keep {keep}: after the next dump the index holds {left}")
        print(f"resume_keep {keep}: the killed client's dump was listed incomplete; after the next dump "
              f"{'spared' if kept else 'removed'}: {left}")


class Skip(Exception):
    pass


def test_retention_free():
    """min_free on a tmpfs of its own that holds four dumps, min_free 2.5
    dumps below its size: over six dumps in a row the newest two stay,
    oldest removed first, also while the oldest is held open by a reader,
    and kdumpd list equals the disk after every dump."""
    vmcore = shared_vmcore("trixie")
    small = local_dump(vmcore, "retention-free.small")
    size = os.path.getsize(local_dump(small, "retention-free.local"))
    fs = (4 * size + (16 << 20)) // (1 << 20) << 20
    # Two dumps (each its vmcore, log and crash.json: under size + 1M) leave
    # more than min_free; three leave less.
    min_free = fs - size * 5 // 2 - (512 << 10)
    s = Server("retention-free", f"keep_per_host 0\nmin_free {min_free}\n")
    os.makedirs(s.dump_dir)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={fs},mode=0700", "tmpfs", s.dump_dir],
                       stderr=subprocess.PIPE)
    if p.returncode:
        raise Skip(f"cannot mount a tmpfs for dump_dir: {p.stderr.decode().strip()}")
    try:
        s.start()
        try:
            dirs = retention_run(s, small, 2)
            # The oldest dump held open, as by crash reading it: unlinked,
            # its blocks stay in use until it is closed, and retention must
            # count them as given back instead of going on to the next dump.
            with open(os.path.join(s.dump_dir, dirs[-2], "vmcore"), "rb"):
                dirs.append(send_stored(s, small))
                listed_as_on_disk(s, dirs[-2:])
            dirs.append(send_stored(s, small))
            listed_as_on_disk(s, dirs[-2:])
        finally:
            s.stop()
        removed = re.findall(r"retention: removing (\S+)", open(s.log).read())
        if removed != dirs[:-2]:
            raise LabError(f"retention removed {removed}, not {dirs[:-2]}")
        st = os.statvfs(s.dump_dir)
        free = st.f_bavail * st.f_frsize
    finally:
        subprocess.run(["umount", s.dump_dir], check=True)
    if free < min_free:
        raise LabError(f"{free} bytes free after retention, under min_free {min_free}")
    print(f"min_free {min_free} on a {fs}-byte tmpfs ({size}-byte dumps): six dumps, the fifth with the oldest "
          f"held open; kept {dirs[-2:]}, {free} bytes free; removed {dirs[:-2]}")


def skippable(fn):
    def run():
        try:
            fn()
        except Skip as e:
            print(f"SKIP: {e}")
            sys.exit(77)
    return run


if __name__ == "__main__":
    sys.exit(test_main({"lab": test_lab, "loopback": test_loopback, "security": test_security, "restart": test_restart,
                        "restart-early": test_restart_early,
                        "loss": test_loss, "frames": test_frames, "concurrency": test_concurrency, "replay": test_replay,
                        "forged": test_forged, "hostname": test_hostname, "hook": test_hook,
                        "retention": test_retention, "hook-mail": test_hook_mail, "deferred": test_deferred, "stall": test_stall, "meta-only": test_meta_only, "abandoned": test_abandoned, "retention-free": skippable(test_retention_free)},
                       sys.argv))
