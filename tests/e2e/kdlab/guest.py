"""One crash cycle: build both initrds, boot, crash, capture, collect results."""

import hashlib
import os
import re
import shutil
import subprocess

from . import initrd
from .check import elf_segments
from .qemu import Guest, tail
from .util import LabError, Timer, log, run, write_json

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUEST_DIR = os.path.join(HERE, "guest")
PAGE = 4096
FILE_TAG = b"KDLABFIL"


class RunConfig:
    def __init__(self, **kw):
        self.mem_mb = 2048
        self.crashkernel = "256M"
        self.smp = 2
        self.anon_mb = 192
        self.zero_mb = 64
        self.tmpfs_mb = 128
        self.file_mb = 64
        self.crash = "sysrq"          # sysrq | kill-init | oom | nmi
        self.hostname = "kdlab"
        self.mode = "raw"             # raw | program
        self.programs = []            # static binaries copied into the capture initrd
        self.files = []               # (host path, guest path): more files for the capture initrd
        self.capture_cmd = ""         # what the capture /init runs in program mode
        self.net = False
        self.target_disk_mb = 0       # program mode: a blank disk the program may write
        self.timeout = 600
        self.workload = None
        self.extra_cmdline = ""
        self.__dict__.update({k: v for k, v in kw.items() if v is not None})


def _env_file(values):
    def q(v):
        return "'" + str(v).replace("'", "'\\''") + "'"
    return "".join(f"{k}={q(v)}\n" for k, v in values.items())


def _capture_cmdline(cfg):
    """As a kdump service builds it: the first kernel's line without
    crashkernel=, plus what a capture kernel needs."""
    return f"console=ttyS0 irqpoll nr_cpus=1 reset_devices panic=-1 loglevel=4 {cfg.extra_cmdline}".strip()


def _capture_initrd(k, cfg, work, modules):
    root = os.path.join(work, "capture-root")
    shutil.rmtree(root, ignore_errors=True)
    initrd.add_busybox(root)
    initrd.add_file(root, os.path.join(GUEST_DIR, "capture-init.sh"), "/init", 0o755)
    initrd.add_file(root, os.path.join(GUEST_DIR, "common.sh"), "/etc/kdlab-common.sh")
    wanted = ["virtio_pci", "virtio_blk"] + (["virtio_net"] if cfg.net else [])
    modules.install(wanted, root)
    for prog in cfg.programs:
        initrd.check_static(prog)
        initrd.add_file(root, prog, f"/usr/bin/{os.path.basename(prog)}", 0o755)
    for src, dest in cfg.files:
        initrd.add_file(root, src, dest)
    if cfg.net:
        initrd.add_file(root, os.path.join(GUEST_DIR, "udhcpc.script"), "/etc/udhcpc.script", 0o755)
    initrd.write_file(root, "/etc/kdlab.env", _env_file({
        "MODE": cfg.mode, "NET": int(cfg.net), "CAPTURE_CMD": cfg.capture_cmd,
        "TARGET_DISK": int(cfg.target_disk_mb > 0)}))
    image = os.path.join(work, "capture.img")
    initrd.pack(root, image)
    return image


def _stage1_initrd(k, cfg, work, modules, capture_img):
    root = os.path.join(work, "stage1-root")
    shutil.rmtree(root, ignore_errors=True)
    initrd.add_busybox(root)
    initrd.add_file(root, os.path.join(GUEST_DIR, "stage1-init.sh"), "/init", 0o755)
    initrd.add_file(root, os.path.join(GUEST_DIR, "common.sh"), "/etc/kdlab-common.sh")
    initrd.check_static(cfg.workload)
    initrd.add_file(root, cfg.workload, "/workload", 0o755)
    initrd.add_dynamic_binary(root, "/usr/sbin/kexec" if os.path.exists("/usr/sbin/kexec") else "/sbin/kexec",
                              "/sbin/kexec")
    initrd.add_file(root, k.vmlinuz, "/boot/vmlinuz")
    initrd.add_file(root, capture_img, "/boot/capture.img")
    modules.install(["virtio_pci", "virtio_blk"], root)
    initrd.write_file(root, "/etc/kdlab.env", _env_file({
        "CAPTURE_CMDLINE": _capture_cmdline(cfg), "ANON_MB": cfg.anon_mb, "ZERO_MB": cfg.zero_mb,
        "TMPFS_MB": cfg.tmpfs_mb, "DATA_DISK": int(cfg.file_mb > 0), "CRASH": cfg.crash,
        "HOSTNAME_LAB": cfg.hostname}))
    image = os.path.join(work, "stage1.img")
    initrd.pack(root, image)
    return image


def _data_disk(cfg, work):
    """An ext4 image holding one tagged file, read in the guest to make file cache."""
    d = os.path.join(work, "data-root")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    pages = cfg.file_mb * 1024 * 1024 // PAGE
    with open(os.path.join(d, "kdlab-file.dat"), "wb") as f:
        for i in range(pages):
            seed = hashlib.sha256(i.to_bytes(8, "little")).digest()
            f.write(FILE_TAG + i.to_bytes(8, "little") + (seed * (PAGE // 32))[:PAGE - 16])
    image = os.path.join(work, "data.ext4")
    if os.path.exists(image):
        os.unlink(image)
    run(["mkfs.ext4", "-q", "-F", "-d", d, image, f"{cfg.file_mb + 32}M"])
    shutil.rmtree(d)
    return image


def _blank_disk(path, mb):
    with open(path, "wb") as f:
        f.truncate(mb * 1024 * 1024)


def parse_console(text):
    """What the guest reported: KDLAB: key=value lines and the workload manifest."""
    facts = {}
    for m in re.finditer(r"^KDLAB: (\S+?)=(\S*)", text, re.M):
        facts[m.group(1)] = m.group(2)
    manifest = {}
    m = re.search(r"^KDLAB-MANIFEST-BEGIN\s*$(.*?)^KDLAB-MANIFEST-END", text, re.M | re.S)
    if m:
        for line in m.group(1).splitlines():
            if "=" in line:
                key, _, val = line.strip().partition("=")
                manifest[key] = int(val) if val.isdigit() else val
    fail = re.search(r"^KDLAB-FAIL: (.*)$", text, re.M)
    return facts, manifest, (fail.group(1) if fail else None)


def elf_core_size(path):
    """The file size an ELF64 core must have: the end of its last segment."""
    with open(path, "rb") as f:
        eh = f.read(64)
    if eh[:4] != b"\x7fELF" or eh[4] != 2:
        raise LabError(f"{path}: not an ELF64 file")
    phoff, phnum = int.from_bytes(eh[32:40], "little"), int.from_bytes(eh[56:58], "little")
    return max([phoff + 56 * phnum] + [s["offset"] + s["filesz"] for s in elf_segments(path)])


def crash_cycle(k, cfg, outdir):
    """Boots kernel k, crashes it, captures; returns a dict of results."""
    if not cfg.workload or not os.path.exists(cfg.workload):
        raise LabError(f"workload binary not found ({cfg.workload}); build it with ninja first")
    os.makedirs(outdir, exist_ok=True)
    work = os.path.join(outdir, "work")
    os.makedirs(work, exist_ok=True)
    modules = initrd.Modules(k.moddir)
    capture_img = _capture_initrd(k, cfg, work, modules)
    stage1 = _stage1_initrd(k, cfg, work, modules, capture_img)
    cmdline = f"console=ttyS0 crashkernel={cfg.crashkernel} panic=-1 loglevel=4 {cfg.extra_cmdline}".strip()
    guest = Guest(k.vmlinuz, stage1, cmdline, cfg.mem_mb, cfg.smp)
    if cfg.file_mb:
        guest.add_disk(_data_disk(cfg, work), "kdlab-data", readonly=True)
    raw = os.path.join(outdir, "vmcore.disk")
    if cfg.mode == "raw":
        _blank_disk(raw, cfg.mem_mb + 256)
        guest.add_disk(raw, "kdlab-vmcore")
    target = os.path.join(outdir, "target.disk")
    if cfg.target_disk_mb:
        _blank_disk(target, cfg.target_disk_mb)
        guest.add_disk(target, "kdlab-target")
    if cfg.net:
        guest.add_user_net()
    console = os.path.join(outdir, "console.log")
    marks, t = boot(guest, console, cfg)
    with open(console, errors="replace") as f:
        facts, manifest, failure = parse_console(f.read())
    result = {"kernel": k.release, "suite": k.suite, "seconds": round(t.seconds, 1), "facts": facts,
              "crash": cfg.crash, "hostname": cfg.hostname, "mem_mb": cfg.mem_mb,
              "manifest": manifest, "console": console, "marks": marks, "stage1_initrd_bytes": os.path.getsize(stage1),
              "capture_initrd_bytes": os.path.getsize(capture_img)}
    _judge(result, failure, console, cfg)
    if cfg.mode == "raw":
        result["vmcore"] = _finish_raw(raw, facts, outdir)
    if cfg.target_disk_mb:
        result["target_disk"] = target
    shutil.rmtree(work, ignore_errors=True)
    write_json(os.path.join(outdir, "result.json"), result)
    return result


# Under TCG a Debian kernel now and then dies in its own boot (an int3 Oops
# in sched_clock_cpu, 6.12, 1 boot in about 300): before our init runs,
# so before anything of ours is tested. Such a boot is tried once more;
# the message says so. A death after the init's first line is judged.
BOOT_ATTEMPTS = 2
_BOOT_DEATH = re.compile(r"^.*(Oops: |BUG: |Kernel panic - not syncing).*$", re.M)


def boot(guest, console, cfg):
    """Runs the guest, once more if its first kernel died in its own boot
    (BOOT_ATTEMPTS). Returns the console marks and the run's Timer."""
    for attempt in range(BOOT_ATTEMPTS):
        with Timer() as t:
            marks = guest.run(console, cfg.timeout, nmi_on="KDLAB: nmi-please" if cfg.crash == "nmi" else None,
                              marks={"crash": "KDLAB: crashing", "capture": "KDLAB: stage=capture",
                                     "captured": "KDLAB: capture_rc="})
        death = _died_booting(console)
        if not death or attempt + 1 == BOOT_ATTEMPTS:
            break
        # On stderr, as every lab message: stdout of `lab vmcore` is the
        # vmcore's path, which callers read.
        log(f"the first kernel died while booting, before its init ran ({death}); booting it again")
    return marks, t


def _died_booting(console):
    """The kernel's death line, if it died before the stage-1 init said its first word."""
    with open(console, errors="replace") as f:
        text = f.read()
    m = _BOOT_DEATH.search(text)
    if not m or "KDLAB: stage=first" in text[:m.start()]:
        return None
    return m.group(0).strip()[-120:]


def _judge(result, failure, console, cfg):
    facts = result["facts"]
    if failure:
        raise LabError(f"guest reported: {failure}\n{tail(console)}")
    if "kexec-loaded" not in open(console, errors="replace").read():
        raise LabError(f"the first kernel never loaded the capture kernel\n{tail(console)}")
    if facts.get("stage") != "capture":
        raise LabError(f"the capture kernel did not start after the crash\n{tail(console)}")
    if not result["manifest"]:
        raise LabError(f"the workload wrote no manifest\n{tail(console)}")
    if facts.get("capture_rc") != "0":
        raise LabError(f"the capture program exited {facts.get('capture_rc', '(never)')}\n{tail(console)}")


def _finish_raw(raw, facts, outdir):
    """The raw disk holds /proc/vmcore from byte 0; cut it to the core's size."""
    size = elf_core_size(raw)
    reported = int(facts.get("vmcore_size", -1))
    if size != reported:
        raise LabError(f"vmcore: the ELF headers say {size} bytes but /proc/vmcore had {reported}")
    os.truncate(raw, size)
    # Dig holes where the guest wrote zeros, so the cache holds less.
    subprocess.run(["fallocate", "--dig-holes", raw], check=False)
    vmcore = os.path.join(outdir, "vmcore")
    os.replace(raw, vmcore)
    return vmcore
