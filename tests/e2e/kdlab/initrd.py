"""Builds the lab's initramfs images: a root directory turned into a gzip'd cpio.

Kernel modules are resolved through the modules.dep that depmod -b wrote,
decompressed on the host (.ko.xz, .ko.zst, .ko.gz) so that busybox insmod can
load them, and listed in dependency order for the guest's /init."""

import os
import re
import shutil
import subprocess

from .util import LabError, run

DECOMPRESS = {".xz": ["xz", "-dc"], ".zst": ["zstd", "-dcq"], ".gz": ["gzip", "-dc"]}
LIB_DIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64")


def _modname(path):
    base = os.path.basename(path)
    base = re.sub(r"\.ko(\.(xz|zst|gz))?$", "", base)
    return base.replace("-", "_")


class Modules:
    """The modules of one kernel, as depmod described them."""

    def __init__(self, moddir):
        self.moddir = moddir
        self.deps = {}
        self.paths = {}
        with open(os.path.join(moddir, "modules.dep")) as f:
            for line in f:
                mod, _, deps = line.partition(":")
                name = _modname(mod)
                self.paths[name] = mod
                self.deps[name] = [_modname(d) for d in deps.split()]
        self.builtin = set()
        try:
            with open(os.path.join(moddir, "modules.builtin")) as f:
                self.builtin = {_modname(l.strip()) for l in f if l.strip()}
        except OSError:
            pass

    def load_order(self, wanted):
        """Each wanted module after everything it depends on; built-in ones are dropped."""
        order = []

        def visit(name, chain):
            if name in order or name in self.builtin:
                return
            if name not in self.paths:
                raise LabError(f"module {name}: not in {self.moddir}/modules.dep")
            if name in chain:
                raise LabError(f"module {name}: dependency loop")
            for d in self.deps[name]:
                visit(d, chain + [name])
            order.append(name)

        for w in wanted:
            visit(w.replace("-", "_"), [])
        return order

    def install(self, wanted, dest_root):
        """Copies the modules (decompressed) into dest_root/lib/modules-lab and
        writes its load-order file; returns the order."""
        order = self.load_order(wanted)
        dest = os.path.join(dest_root, "lib", "modules-lab")
        os.makedirs(dest, exist_ok=True)
        for name in order:
            src = os.path.join(self.moddir, self.paths[name])
            ext = os.path.splitext(src)[1]
            with open(os.path.join(dest, f"{name}.ko"), "wb") as f:
                if ext in DECOMPRESS:
                    subprocess.run(DECOMPRESS[ext] + [src], stdout=f, check=True)
                else:
                    with open(src, "rb") as s:
                        shutil.copyfileobj(s, f)
        with open(os.path.join(dest, "order"), "w") as f:
            f.write("".join(f"{n}\n" for n in order))
        return order


def add_file(root, src, dest, mode=None):
    path = os.path.join(root, dest.lstrip("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    shutil.copy2(src, path)
    if mode is not None:
        os.chmod(path, mode)
    return path


def write_file(root, dest, text, mode=0o644):
    path = os.path.join(root, dest.lstrip("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def add_dynamic_binary(root, binary, dest):
    """Copies a dynamically linked binary and every library ldd lists for it."""
    add_file(root, binary, dest, 0o755)
    text = run(["ldd", binary]).stdout.decode()
    for line in text.splitlines():
        m = re.search(r"(/\S+\.so[^\s]*)", line)
        if m:
            lib = m.group(1)
            add_file(root, os.path.realpath(lib), lib, 0o755)


def add_busybox(root):
    bb = "/bin/busybox"
    if not os.path.exists(bb):
        raise LabError("busybox-static: not installed (/bin/busybox is missing)")
    if "statically linked" not in run(["file", "-L", bb]).stdout.decode():
        raise LabError("/bin/busybox is not static: install busybox-static")
    add_file(root, bb, "/bin/busybox", 0o755)
    for d in ("proc", "sys", "dev", "tmp", "mnt", "run", "sbin", "usr/bin", "usr/sbin"):
        os.makedirs(os.path.join(root, d), exist_ok=True)


def check_static(binary):
    desc = run(["file", "-L", binary]).stdout.decode()
    if "statically linked" not in desc and "static-pie linked" not in desc:
        raise LabError(f"{binary}: not a static binary; the capture initrd has no libc")


def pack(root, image):
    """Packs root into a gzip'd newc cpio at image, owned by root:root."""
    tmp = f"{image}.tmp"
    with open(tmp, "wb") as f:
        find = subprocess.Popen(["find", ".", "-mindepth", "1"], cwd=root, stdout=subprocess.PIPE)
        cpio = subprocess.Popen(["cpio", "-o", "-H", "newc", "--quiet", "--owner=0:0"], cwd=root,
                                stdin=find.stdout, stdout=subprocess.PIPE)
        gz = subprocess.Popen(["gzip", "-1", "-n"], stdin=cpio.stdout, stdout=f)
        find.stdout.close()
        cpio.stdout.close()
        if gz.wait() or cpio.wait() or find.wait():
            raise LabError(f"cpio: could not pack {root}")
    os.replace(tmp, image)
    return os.path.getsize(image)
