"""Shared fixtures for TSN's integration tests.

TSN_BUILD points at the sanitized build (every test runs its programs),
TSN_BUILD_RELEASE at a plain optimized build (used only where memory use is
measured: ASan's shadow memory and quarantine would inflate RSS).
"""
import os
import re
import signal
import subprocess
import time

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


# ---- running nodes (tsnd) ----

TSND_LINE_RE = re.compile(r"^tsnd: listening on (\S+):(\d+), node id ([0-9a-f]{64})$")


def tsnd_exe(build=None):
    exe = os.path.join(build or BUILD, "tools", "tsnd")
    if not os.path.exists(exe):
        pytest.fail(f"{exe} is not built: run tools/run-tests")
    return exe


class Daemon:
    """One tsnd on 127.0.0.1. start() waits for its "listening" line; stop()
    sends SIGTERM, then SIGKILL after a timeout. Its stderr goes to a file
    (never a pipe that could fill up), checked for sanitizer reports."""

    def __init__(self, datadir, logdir, name, build=None, bootstrap=(), args=()):
        self.datadir = str(datadir)
        self.log_path = os.path.join(str(logdir), f"{name}.log")
        self.name = name
        self.build = build
        self.bootstrap = list(bootstrap)
        self.args = list(args)
        self.proc = None
        self.port = 0
        self.id = None
        self.expect_dead = False  # killed on purpose: no exit status check
        self.stopped = False      # stopped by the test (which checks the status)
        self.tsn = Tsn(self.datadir, build=build)

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def start(self, port=None, bootstrap=None, timeout=60):
        boot = self.bootstrap if bootstrap is None else list(bootstrap)
        cmd = [tsnd_exe(self.build), "--datadir", self.datadir, "--host", "127.0.0.1",
               "--port", str(self.port if port is None else port)]
        if boot:
            cmd += ["--bootstrap", ",".join(boot)]
        cmd += self.args
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()
        self.expect_dead = False
        self.stopped = False
        line = self._first_line(timeout)
        m = TSND_LINE_RE.match(line)
        assert m, f"{self.name}: unexpected first line {line!r}\n{self.log()}"
        self.port = int(m.group(2))
        self.id = m.group(3)
        return self

    def _first_line(self, timeout):
        import select
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                pytest.fail(f"{self.name}: no 'listening' line within {timeout} s\n{self.log()}")
            r, _, _ = select.select([fd], [], [], min(left, 0.5))
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.proc.wait(timeout=10)
                    pytest.fail(f"{self.name}: exited {self.proc.returncode} before listening\n"
                                f"{self.log()}")
                buf += chunk
        return buf.split(b"\n", 1)[0].decode(errors="replace")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout=30):
        """SIGTERM, then SIGKILL. Returns the exit status (None if never started)."""
        if self.proc is None:
            return None
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
                return "killed after SIGTERM timeout"
        return self.proc.returncode

    def kill(self):
        """SIGKILL on purpose (a crash)."""
        self.expect_dead = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def status(self):
        """`tsn status` as a dict of its first word to the rest of the line."""
        out = self.tsn.run("status").stdout.decode()
        d = {}
        for line in out.splitlines():
            k, _, v = line.partition(" ")
            d[k] = v.strip()
        return d


class Network:
    """Starts tsnd processes and always stops them; the test fails if one
    died unexpectedly, did not stop cleanly, or printed a sanitizer report."""

    def __init__(self, tmp_path, build=None):
        self.root = tmp_path
        self.build = build
        self.nodes = []
        os.makedirs(str(tmp_path / "logs"), exist_ok=True)

    def add(self, bootstrap=(), args=(), start=True, name=None):
        name = name or f"n{len(self.nodes) + 1}"
        d = Daemon(self.root / name, self.root / "logs", name, build=self.build,
                   bootstrap=bootstrap, args=args)
        self.nodes.append(d)
        if start:
            d.start()
        return d

    def start(self, n, args=()):
        """n more nodes, each bootstrapped to the first; waits until every
        node reports at least one peer. Returns the new nodes."""
        new = []
        if not self.nodes:
            new.append(self.add(args=args))
        first = self.nodes[0]
        while len(new) < n:
            new.append(self.add(bootstrap=[first.addr], args=args))
        if len(self.nodes) > 1:
            self.wait_peers(self.nodes, 1)
        return new

    def wait_peers(self, nodes, want, timeout=60):
        deadline = time.monotonic() + timeout
        for d in nodes:
            if d.expect_dead:
                continue
            while True:
                assert d.alive(), f"{d.name} died:\n{d.log()}"
                peers = int(d.status()["peers"])
                if peers >= want:
                    break
                if time.monotonic() > deadline:
                    pytest.fail(f"{d.name} has {peers} peers, want {want}\n{d.log()}")
                time.sleep(0.2)

    def finish(self):
        problems = []
        for d in self.nodes:
            if d.proc is None:
                continue
            if d.proc.poll() is not None:
                if not (d.expect_dead or d.stopped):
                    problems.append(f"{d.name} died (exit {d.proc.returncode})")
            else:
                rc = d.stop()
                if rc != 0:
                    problems.append(f"{d.name} did not stop cleanly on SIGTERM (exit {rc})")
            d.proc.stdout.close()
            log = d.log()
            if SANITIZER_RE.search(log):
                problems.append(f"{d.name}: sanitizer report:\n{log[-6000:]}")
        return problems


@pytest.fixture
def network(tmp_path):
    net = Network(tmp_path)
    try:
        yield net
    finally:
        problems = net.finish()
    if problems:
        pytest.fail("\n".join(problems))


# ---- FUSE mounts (mount.tsn) ----

def mount_exe(build=None):
    exe = os.path.join(build or BUILD, "fs", "mount.tsn")
    if not os.path.exists(exe):
        pytest.fail(f"{exe} is not built: run tools/run-tests")
    return exe


def is_mounted(path, fstype="fuse.tsn"):
    """True when path is a mount point of type fstype (/proc/self/mountinfo)."""
    path = os.path.realpath(str(path))
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields = pre.split()
            mp = fields[4].replace("\\040", " ")
            if mp == path and post.split()[0] == fstype:
                return True
    return False


def proc_hwm_kib(pid):
    """Peak resident set size of a process (VmHWM), KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class Mount:
    """One mount.tsn -f in the background on a temporary mount point, with a
    time limit on every step. start() waits until the mount point is a FUSE
    mount and fails if the daemon dies first; stop() unmounts (fusermount3
    -u, then -uz), waits for the daemon, kills it if it lingers. The log
    (stderr) is a file, checked for sanitizer reports."""

    def __init__(self, root, name, build=None, opts=()):
        self.name = name
        self.build = build
        self.mnt = os.path.join(str(root), f"mnt-{name}")
        self.datadir = os.path.join(str(root), f"data-{name}")
        self.log_path = os.path.join(str(root), f"mount-{name}.log")
        self.opts = list(opts)
        self.proc = None
        self.expect_dead = False
        os.makedirs(self.mnt, exist_ok=True)

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def cmd(self, extra=()):
        o = ",".join([f"datadir={self.datadir}", "host=127.0.0.1"] + self.opts + list(extra))
        return [mount_exe(self.build), "-f", "-o", o, self.mnt]

    def start(self, extra=(), timeout=60):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd(extra), stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()
        self.expect_dead = False
        deadline = time.monotonic() + timeout
        while not is_mounted(self.mnt):
            if self.proc.poll() is not None:
                pytest.fail(f"mount {self.name}: exited {self.proc.returncode} before "
                            f"mounting\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"mount {self.name}: not mounted within {timeout} s\n{self.log()}")
            time.sleep(0.05)
        return self

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def hwm_kib(self):
        return proc_hwm_kib(self.proc.pid)

    def info(self, which="status"):
        """A .tsn file as a dict of its first word to the rest of the line."""
        d = {}
        with open(self.path(".tsn", which)) as f:
            for line in f:
                k, _, v = line.strip().partition(" ")
                d[k] = v
        return d

    @property
    def addr(self):
        return self.info()["address"]

    def stop(self, timeout=60):
        """Unmount and wait for the daemon. Returns its exit status."""
        if self.proc is None:
            return None
        if is_mounted(self.mnt):
            subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True, timeout=30)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        if is_mounted(self.mnt) or self.proc.poll() is None:
            subprocess.run(["fusermount3", "-uz", self.mnt], capture_output=True, timeout=30)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
                return "killed: did not exit after unmount"
        return self.proc.returncode

    def kill9(self):
        """A crash: SIGKILL, then clear the dead mount point."""
        self.expect_dead = True
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=30)
        subprocess.run(["fusermount3", "-uz", self.mnt], capture_output=True, timeout=30)

    def sanitizer_report(self):
        log = self.log()
        return log[-6000:] if SANITIZER_RE.search(log) else None


class Mounts:
    """Makes Mount objects; finish() always unmounts and kills them all and
    returns the problems (died, unclean exit, sanitizer report)."""

    def __init__(self, root):
        self.root = root
        self.all = []

    def new(self, name=None, build=None, opts=(), start=True):
        m = Mount(self.root, name or f"m{len(self.all) + 1}", build=build, opts=opts)
        self.all.append(m)
        if start:
            m.start()
        return m

    def finish(self):
        problems = []
        for m in self.all:
            if m.proc is None:
                continue
            died = m.proc.poll() is not None
            rc = m.stop()
            if died and not m.expect_dead and rc != 0:
                problems.append(f"mount {m.name} died (exit {rc})")
            elif not died and rc != 0:
                problems.append(f"mount {m.name} did not exit cleanly (exit {rc})\n"
                                f"{m.log()[-3000:]}")
            rep = m.sanitizer_report()
            if rep:
                problems.append(f"mount {m.name}: sanitizer report:\n{rep}")
        return problems


@pytest.fixture
def mounts(tmp_path):
    ms = Mounts(tmp_path)
    try:
        yield ms
    finally:
        problems = ms.finish()
    if problems:
        pytest.fail("\n".join(problems))
