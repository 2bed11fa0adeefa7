"""Debian kernels for the lab, and the crash utility that can read each one.

A kernel is resolved through the linux-image-cloud-amd64 metapackage of its
suite, so the lab follows Debian's kernel updates. What is fetched is kept
in the cache under a stamp; a cached kernel is used without touching apt."""

import glob
import os
import shutil
import time

from .apt import Apt, extract
from .util import LabError, cache_dir, log, read_json, run, write_json

KERNEL_SUITES = ("bookworm", "trixie")
METAPACKAGE = "linux-image-cloud-amd64"
# Re-resolve the metapackage after this long, to pick up Debian's updates.
REFRESH_SECONDS = 14 * 24 * 3600
# Packages crash needs at run time, but not for reading dumps with -s -i.
CRASH_SKIP = {"binutils", "debconf", "perl-base"}


class Kernel:
    def __init__(self, suite, info):
        self.suite = suite
        self.release = info["release"]
        self.version = info["version"]
        self.root = info["root"]
        self.vmlinuz = info["vmlinuz"]
        self.vmlinux = info["vmlinux"]
        self.moddir = info["moddir"]

    def major_minor(self):
        major, minor = self.release.split(".")[:2]
        return int(major), int(minor)

    def __repr__(self):
        return f"Kernel({self.suite}, {self.release})"


def _stamp_fresh(stamp, refresh):
    return stamp and not refresh and time.time() - stamp.get("fetched", 0) < REFRESH_SECONDS \
        and all(os.path.exists(stamp[k]) for k in ("vmlinuz", "vmlinux", "moddir"))


def _modules_dir(root, release):
    """Newer Debian kernels ship modules under /usr/lib/modules, older under /lib/modules."""
    for d in (f"{root}/usr/lib/modules/{release}", f"{root}/lib/modules/{release}"):
        if os.path.isdir(d):
            return d
    raise LabError(f"kernel {release}: no modules directory in the package")


def _depmod(root, release, moddir):
    """The .deb ships no modules.dep. depmod -b looks under ROOT/lib/modules,
    so point that at /usr/lib/modules when that is where they are."""
    libmods = os.path.join(root, "lib", "modules")
    if not os.path.exists(os.path.join(libmods, release)):
        os.makedirs(libmods, exist_ok=True)
        os.symlink(os.path.relpath(moddir, libmods), os.path.join(libmods, release))
    run(["depmod", "-b", root, release])
    if not os.path.exists(os.path.join(moddir, "modules.dep")):
        raise LabError(f"depmod -b {root} {release}: no modules.dep was written")


def _fetch_kernel(suite):
    apt = Apt(suite)
    apt.update()
    image = next((d for d in apt.depends(METAPACKAGE) if d.startswith("linux-image-")), None)
    if not image:
        raise LabError(f"{suite}: {METAPACKAGE} depends on no linux-image package")
    release = image[len("linux-image-"):]
    version = apt.version(image)
    root = os.path.join(cache_dir(), "kernels", release)
    dl = os.path.join(cache_dir(), "downloads")
    shutil.rmtree(root, ignore_errors=True)
    image_deb, dbg_deb = apt.download([image, f"{image}-dbg"], dl)
    extract(image_deb, root)
    extract(dbg_deb, root, ["./usr/lib/debug/boot/vmlinux-*"])
    moddir = _modules_dir(root, release)
    _depmod(root, release, moddir)
    vmlinux = glob.glob(f"{root}/usr/lib/debug/boot/vmlinux-{release}")
    if not vmlinux:
        raise LabError(f"{image}-dbg: no usr/lib/debug/boot/vmlinux-{release}")
    for deb in (image_deb, dbg_deb):
        os.unlink(deb)  # only the extracted files are needed; keep the cache small
    return {"suite": suite, "release": release, "version": version, "root": root,
            "vmlinuz": f"{root}/boot/vmlinuz-{release}", "vmlinux": vmlinux[0],
            "moddir": moddir, "fetched": time.time()}


def kernel(suite, refresh=False):
    """The cached kernel of a suite, fetched first if it is missing or stale."""
    if suite not in KERNEL_SUITES:
        raise LabError(f"unknown kernel {suite!r}: choose from {', '.join(KERNEL_SUITES)}")
    stamp_path = os.path.join(cache_dir(), f"kernel-{suite}.json")
    stamp = read_json(stamp_path)
    if _stamp_fresh(stamp, refresh):
        log(f"kernel {suite}: using cached {stamp['release']}")
        return Kernel(suite, stamp)
    info = _fetch_kernel(suite)
    write_json(stamp_path, info)
    log(f"kernel {suite}: fetched {info['release']} ({info['version']})")
    return Kernel(suite, info)


def _closure(apt, package):
    seen, todo = [], [package]
    while todo:
        p = todo.pop()
        if p in seen or p in CRASH_SKIP:
            continue
        seen.append(p)
        todo += apt.depends(p)
    return seen


def _fetch_crash_root(suite, root):
    apt = Apt(suite)
    apt.update()
    packages = _closure(apt, "crash")
    dl = os.path.join(cache_dir(), "downloads", f"crash-{suite}")
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(dl, ignore_errors=True)
    for deb in apt.download(packages, dl):
        extract(deb, root)
    shutil.rmtree(dl, ignore_errors=True)
    return {"suite": suite, "root": root, "version": apt.version("crash"), "packages": packages}


def crash_command(k):
    """The argv prefix that runs a crash able to read kernel k.

    Bookworm's crash 8.0.2 exits silently on a 6.12 vmlinux, and on the 6.1.192
    kernel (bookworm, November 2026) its `ps` finds 3 of 60 tasks ("active task
    ... not found in PID hash"), where drgn and trixie's crash 8.0.6 find them
    all. So trixie's crash reads everything up to 6.12, and crash 9.x from sid
    the kernels after it. Both need a newer glibc than bookworm's: they run
    from a private root through that root's dynamic loader."""
    suite = "trixie" if k.major_minor() <= (6, 12) else "sid"
    root = os.path.join(cache_dir(), f"crash-{suite}")
    stamp_path = f"{root}.json"
    stamp = read_json(stamp_path)
    if not (stamp and os.path.exists(f"{root}/usr/bin/crash")):
        log(f"crash: unpacking {suite}'s crash and its libraries into {root}")
        stamp = _fetch_crash_root(suite, root)
        write_json(stamp_path, stamp)
    libs = ":".join(f"{root}/{d}" for d in ("usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu"))
    loader = next((p for p in (f"{root}/usr/lib64/ld-linux-x86-64.so.2", f"{root}/lib64/ld-linux-x86-64.so.2",
                               f"{root}/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2") if os.path.exists(p)), None)
    if not loader:
        raise LabError(f"crash root {root}: no ld-linux-x86-64.so.2")
    return [loader, "--library-path", libs, f"{root}/usr/bin/crash"]
