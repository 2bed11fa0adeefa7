"""Private apt state for downloading packages of any Debian suite.

The machine's own apt configuration is never changed: each suite gets its own
sources list and state directory inside the lab cache. The mirror's URI is
read from the machine's /etc/apt/sources* at run time, so no host name is
written into the repository."""

import glob
import os
import re

from .util import LabError, cache_dir, log, out, run

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# Suites that have -updates and -security companions; sid has neither.
STABLE_SUITES = {"bookworm", "trixie", "forky"}


def _deb822_entries(text):
    for para in re.split(r"\n\s*\n", text):
        fields = {}
        for line in para.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            k, v = line.split(":", 1)
            fields[k.strip().lower()] = v.split()
        if fields.get("enabled", ["yes"])[0].lower() == "no" or "deb" not in fields.get("types", []):
            continue
        for uri in fields.get("uris", []):
            for suite in fields.get("suites", []):
                yield uri, suite


def _oneline_entries(text):
    for line in text.splitlines():
        line = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
        if len(line) >= 3 and line[0] == "deb":
            yield line[1], line[2]


def machine_sources():
    """(uri, suite) pairs of the machine's enabled 'deb' sources."""
    entries = []
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*")):
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        if path.endswith(".sources"):
            entries += _deb822_entries(text)
        elif path.endswith(".list"):
            entries += _oneline_entries(text)
    return entries


def mirrors():
    """The Debian archive and security URIs this machine already uses."""
    entries = machine_sources()
    main = [u for u, s in entries if re.fullmatch(r"[a-z]+", s) and "security" not in u]
    sec = [u for u, s in entries if s.endswith("-security")]
    if not main:
        raise LabError("no Debian archive found in /etc/apt/sources* (need a 'deb' entry for a release suite)")
    return main[0], (sec[0] if sec else None)


class Apt:
    """apt-get and apt-cache bound to a private state directory for one suite."""

    def __init__(self, suite):
        self.suite = suite
        self.root = os.path.join(cache_dir(), "apt", suite)

    def _opts(self):
        r = self.root
        return ["-o", f"Dir::Etc::SourceList={r}/sources.list", "-o", "Dir::Etc::SourceParts=/dev/null",
                "-o", "Dir::Etc::Preferences=/dev/null", "-o", "Dir::Etc::PreferencesParts=/dev/null",
                "-o", f"Dir::State={r}", "-o", f"Dir::State::Lists={r}/lists",
                "-o", "Dir::State::status=/dev/null", "-o", f"Dir::Cache={r}",
                "-o", f"Dir::Cache::archives={r}/archives", "-o", "APT::Sandbox::User=root",
                "-o", "Acquire::Languages=none", "-o", "APT::Architecture=amd64"]

    def _write_sources(self):
        main, sec = mirrors()
        lines = [f"deb [signed-by={KEYRING}] {main} {self.suite} main"]
        if self.suite in STABLE_SUITES:
            lines.append(f"deb [signed-by={KEYRING}] {main} {self.suite}-updates main")
            if sec:
                lines.append(f"deb [signed-by={KEYRING}] {sec} {self.suite}-security main")
        for d in ("lists/partial", "archives/partial"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        with open(os.path.join(self.root, "sources.list"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def update(self):
        self._write_sources()
        log(f"apt: updating the private {self.suite} package lists")
        run(["apt-get", *self._opts(), "-q", "update"], timeout=600)

    def depends(self, package):
        text = out(["apt-cache", *self._opts(), "depends", "--no-recommends", "--no-suggests",
                    "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", package])
        deps = []
        for line in text.splitlines():
            m = re.match(r"\s*\|?(Pre)?Depends: <?([^>\s]+)>?", line)
            if m:
                deps.append(m.group(2))
        return deps

    def version(self, package):
        text = out(["apt-cache", *self._opts(), "show", "--no-all-versions", package])
        m = re.search(r"^Version: (\S+)", text, re.M)
        if not m:
            raise LabError(f"apt: no version of {package} in {self.suite}")
        return m.group(1)

    def download(self, packages, dest):
        os.makedirs(dest, exist_ok=True)
        log(f"apt: downloading {' '.join(packages)} ({self.suite})")
        run(["apt-get", *self._opts(), "-q", "download", *packages], cwd=dest, timeout=1800)
        debs = []
        for p in packages:
            found = glob.glob(os.path.join(dest, f"{p.replace('+', '%2b')}_*.deb")) + \
                glob.glob(os.path.join(dest, f"{p}_*.deb"))
            if not found:
                raise LabError(f"apt: {p} was not downloaded")
            debs.append(sorted(found)[-1])
        return debs


def extract(deb, root, members=None):
    """Unpacks a .deb into root; with members, only the paths matching those globs."""
    os.makedirs(root, exist_ok=True)
    if members is None:
        run(["dpkg-deb", "-x", deb, root])
        return
    p = run(["bash", "-c", 'dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards "${@:3}"',
             "bash", deb, root, *members])
    return p
