"""Runs one lab guest under QEMU (TCG: there is no KVM here) with a timeout,
keeping its serial console log."""

import subprocess

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

    def run(self, console_log, timeout):
        self.args += ["-serial", f"file:{console_log}"]
        log(f"qemu: booting ({timeout}s limit), console in {console_log}")
        try:
            p = subprocess.run(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise LabError(f"qemu: no power-off within {timeout}s\n{tail(console_log)}")
        except FileNotFoundError:
            raise LabError(f"{QEMU}: not installed (apt-get install qemu-system-x86)")
        if p.returncode != 0:
            msg = p.stdout.decode(errors="replace").strip()
            raise LabError(f"qemu exited {p.returncode}: {msg}\n{tail(console_log)}")


def tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            text = f.read().splitlines()[-lines:]
    except OSError:
        return "(no console log)"
    return f"--- last {len(text)} console lines of {path} ---\n" + "\n".join(text)
