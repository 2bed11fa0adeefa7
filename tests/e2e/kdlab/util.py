"""Small helpers shared by the lab: errors, logging, subprocesses, cache paths."""

import json
import os
import subprocess
import sys
import time


class LabError(Exception):
    """A lab step failed; the message is one line that says which and why."""


def log(msg):
    print(f"kdlab: {msg}", file=sys.stderr, flush=True)


def cache_dir():
    """The lab cache lives outside the repository and is reused between runs."""
    d = os.environ.get("KDUMPKIT_LAB_CACHE") or os.path.expanduser("~/.cache/kdumpkit-lab")
    os.makedirs(d, exist_ok=True)
    return d


def run(cmd, *, cwd=None, env=None, timeout=None, capture=True, stdin=None, check=True):
    """Runs a command; on failure raises LabError naming the command and its stderr tail."""
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, timeout=timeout, stdin=stdin,
                           stdout=subprocess.PIPE if capture else None,
                           stderr=subprocess.PIPE if capture else None)
    except FileNotFoundError:
        raise LabError(f"{cmd[0]}: not installed")
    except subprocess.TimeoutExpired:
        raise LabError(f"{cmd[0]}: timed out after {timeout}s")
    if check and p.returncode != 0:
        tail = (p.stderr or b"").decode(errors="replace").strip().splitlines()[-5:]
        raise LabError(f"{' '.join(map(str, cmd[:3]))}... exited {p.returncode}: {' | '.join(tail)}")
    return p


def out(cmd, **kw):
    return run(cmd, **kw).stdout.decode(errors="replace")


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_json(path, obj):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def need(*tools):
    """Fails with the name of the first missing tool, so a test never passes by skipping."""
    for t in tools:
        if not any(os.access(os.path.join(d, t), os.X_OK) for d in os.environ.get("PATH", "").split(":") + ["/usr/sbin", "/sbin"]):
            raise LabError(f"{t}: not installed (run tests/e2e/install-deps)")


class Timer:
    def __enter__(self):
        self.start = time.monotonic()
        return self

    def __exit__(self, *a):
        self.seconds = time.monotonic() - self.start


def test_main(tests, argv):
    """Runs the scenario argv[1] names (with argv[2:] as its arguments) and
    prints the closing line CI reads. A LabError is the failure reason."""
    try:
        tests[argv[1]](*argv[2:])
    except LabError as e:
        print(f"FAIL {argv[1]}: {e}")
        print("0 passed, 1 failed")
        return 1
    print("1 passed, 0 failed")
    return 0
