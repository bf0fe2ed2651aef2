"""Shared fixtures for TSN's integration tests.

TSN_BUILD points at the sanitized build (every test runs its programs),
TSN_BUILD_RELEASE at a plain optimized build (used only where memory use is
measured: ASan's shadow memory and quarantine would inflate RSS).
"""
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("TSN_BUILD", os.path.join(ROOT, "build", "test"))
BUILD_RELEASE = os.environ.get("TSN_BUILD_RELEASE", BUILD)

URI_RE = re.compile(r"^tsn:[a-z2-7]{124}$")
SANITIZER_RE = re.compile(r"(AddressSanitizer|LeakSanitizer|runtime error:|UndefinedBehaviorSanitizer)")


def tsn_exe(build=None):
    exe = os.path.join(build or BUILD, "tools", "tsn")
    if not os.path.exists(exe):
        pytest.fail(f"{exe} is not built: run tools/run-tests")
    return exe


class Tsn:
    """Runs the tsn command on one data dir and checks for sanitizer reports."""

    def __init__(self, datadir, build=None, global_args=()):
        self.datadir = str(datadir)
        self.exe = tsn_exe(build)
        self.global_args = list(global_args)

    def cmd(self, *args):
        return [self.exe, "--datadir", self.datadir, *self.global_args, *map(str, args)]

    def run(self, *args, check=True, input=None, timeout=600):
        p = subprocess.run(self.cmd(*args), input=input, capture_output=True, timeout=timeout)
        err = p.stderr.decode(errors="replace")
        assert not SANITIZER_RE.search(err), f"sanitizer report from tsn {args}:\n{err}"
        if check and p.returncode != 0:
            raise AssertionError(f"tsn {args} exited {p.returncode}:\n{err}")
        return p

    def put(self, *files, private=False):
        args = ["put"] + (["--private"] if private else []) + list(files)
        out = self.run(*args).stdout.decode().splitlines()
        for line in out:
            assert URI_RE.match(line), f"not a URI on stdout: {line!r}"
        return out


@pytest.fixture
def tsn(tmp_path):
    return Tsn(tmp_path / "data")


def write_random(path, size, seed=None):
    """Write size random bytes to path, in pieces (never all in memory)."""
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n
    return path


def files_equal(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True
