"""Runs one lab guest under QEMU (TCG: there is no KVM here) with a timeout,
keeping its serial console log."""

import os
import socket
import subprocess
import threading
import time

from .util import LabError, log

QEMU = "qemu-system-x86_64"


class Guest:
    def __init__(self, vmlinuz, initrd, cmdline, mem_mb, smp=2):
        self.args = [QEMU, "-machine", "pc,accel=tcg", "-cpu", "max", "-smp", str(smp),
                     "-m", str(mem_mb), "-kernel", vmlinuz, "-initrd", initrd, "-append", cmdline,
                     "-display", "none", "-monitor", "none", "-no-reboot", "-nodefaults"]
        self.disks = 0

    def add_disk(self, path, serial, readonly=False):
        ro = ",readonly=on" if readonly else ""
        self.args += ["-drive", f"file={path},if=none,id=d{self.disks},format=raw,cache=unsafe{ro}",
                      "-device", f"virtio-blk-pci,drive=d{self.disks},serial={serial}"]
        self.disks += 1

    def add_user_net(self):
        """slirp: the guest reaches the host's loopback at 10.0.2.2."""
        self.args += ["-netdev", "user,id=n0,ipv6=off", "-device", "virtio-net-pci,netdev=n0"]

    def run(self, console_log, timeout, nmi_on=None, marks=None):
        """Runs to power-off. With nmi_on, a console line that makes the
        host inject an NMI through the QEMU monitor (a unix socket). marks
        maps names to console text; returns the host's wall-clock time at
        which each first appeared (polled every 0.1 s)."""
        args = self.args + ["-serial", f"file:{console_log}"]
        monitor = console_log + ".monitor"
        if nmi_on:
            if os.path.exists(monitor):
                os.unlink(monitor)
            args = [a if a != "none" or args[i - 1] != "-monitor" else f"unix:{monitor},server=on,wait=off"
                    for i, a in enumerate(args)]
        log(f"qemu: booting ({timeout}s limit), console in {console_log}")
        try:
            p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except FileNotFoundError:
            raise LabError(f"{QEMU}: not installed (apt-get install qemu-system-x86)")
        watcher = _Marks(console_log, marks or {})
        watcher.start()
        try:
            if nmi_on:
                self._nmi_when(p, console_log, nmi_on, monitor, time.monotonic() + timeout)
            out, _ = p.communicate(timeout=max(1, timeout))
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise LabError(f"qemu: no power-off within {timeout}s\n{tail(console_log)}")
        finally:
            watcher.stop()
        if p.returncode != 0:
            msg = out.decode(errors="replace").strip()
            raise LabError(f"qemu exited {p.returncode}: {msg}\n{tail(console_log)}")
        return watcher.seen

    @staticmethod
    def _nmi_when(p, console_log, marker, monitor, deadline):
        while p.poll() is None and time.monotonic() < deadline:
            try:
                with open(console_log, errors="replace") as f:
                    seen = marker in f.read()
            except OSError:
                seen = False
            if seen:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(monitor)
                    s.sendall(b"nmi\n")
                    time.sleep(1)
                log("qemu: NMI sent through the monitor")
                return
            time.sleep(0.5)


class _Marks(threading.Thread):
    """Notes when each marker first shows on the console."""

    def __init__(self, path, marks):
        super().__init__(daemon=True)
        self.path, self.marks, self.seen = path, dict(marks), {}
        self.done = threading.Event()

    def run(self):
        while self.marks and not self.done.wait(0.1):
            self._scan()
        self._scan()

    def _scan(self):
        try:
            with open(self.path, errors="replace") as f:
                text = f.read()
        except OSError:
            return
        now = time.time()
        for name, marker in list(self.marks.items()):
            if marker in text:
                self.seen[name] = round(now, 2)
                del self.marks[name]

    def stop(self):
        self.done.set()
        self.join()


def tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            text = f.read().splitlines()[-lines:]
    except OSError:
        return "(no console log)"
    return f"--- last {len(text)} console lines of {path} ---\n" + "\n".join(text)
