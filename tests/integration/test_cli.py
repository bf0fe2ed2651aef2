"""The `tsn` command on a data dir, offline: put, get, cat, ls, rm, gc, stat,
and its errors (malformed URI, missing and tampered chunks, unreadable
input, full disk, a second process)."""
import glob
import os
import random
import re
import signal
import subprocess
import time

import pytest

from conftest import Tsn, URI_RE, files_equal, write_random, BUILD_RELEASE

CHUNK = 256 * 1024


def chunk_files(datadir):
    return sorted(glob.glob(os.path.join(str(datadir), "chunks", "??", "*")))


def one_line_error(p, *words):
    err = p.stderr.decode()
    assert p.returncode == 1, f"exit {p.returncode}, stderr {err!r}"
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {err!r}"
    for w in words:
        assert w in lines[0], f"{w!r} not in {lines[0]!r}"
    return lines[0]


def test_help(tsn):
    p = tsn.run("--help")
    text = p.stdout.decode()
    for cmd in ("put", "get", "cat", "ls", "rm", "gc", "stat", "--datadir", "--private"):
        assert cmd in text
    for cmd in ("put", "get", "cat", "ls", "rm", "gc", "stat"):
        p = tsn.run(cmd, "--help")
        assert p.stdout.decode().startswith("usage: tsn " + cmd)
    p = tsn.run("frobnicate", check=False)
    assert p.returncode == 2


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 12345])
def test_put_get_sizes(tsn, tmp_path, size):
    src = write_random(tmp_path / "f.bin", size)
    (uri,) = tsn.put(src)
    out = tmp_path / "out.bin"
    tsn.run("get", uri, "-o", out)
    assert files_equal(src, out)
    p = tsn.run("cat", uri)
    assert p.stdout == open(src, "rb").read()
    p = tsn.run("get", uri)
    assert p.stdout == open(src, "rb").read()


def test_put_prints_only_uris(tsn, tmp_path):
    a = tmp_path / "a.txt"
    a.write_text("terra pins " * 50000)
    b = write_random(tmp_path / "b.bin", 100000)
    p = tsn.run("put", a, b)
    lines = p.stdout.decode().splitlines()
    assert len(lines) == 2 and all(URI_RE.match(x) for x in lines)
    assert p.stderr == b""  # no progress when stderr is not a terminal
    assert lines[0] != lines[1]


def test_same_content_same_uri_private_differs(tmp_path):
    src = tmp_path / "song.txt"
    src.write_text("the same song everywhere\n" * 20000)
    a, b = Tsn(tmp_path / "a"), Tsn(tmp_path / "b")
    (ua,) = a.put(src)
    (ub,) = b.put(src)
    assert ua == ub
    (pa,) = a.put(src, private=True)
    (pb,) = b.put(src, private=True)
    assert pa != ua and pb != ua and pa != pb
    (pa2,) = a.put(src, private=True)
    assert pa2 == pa  # the per-user secret persists in the data dir
    assert (os.stat(tmp_path / "a" / "secret").st_mode & 0o777) == 0o600
    out = tmp_path / "out"
    a.run("get", pa, "-o", out)
    assert files_equal(src, out)
    # b cannot read a's private file: it has none of its chunks
    p = b.run("get", pa, "-o", out, check=False)
    assert p.returncode == 1


def test_ls_rm_gc_stat(tsn, tmp_path):
    a = write_random(tmp_path / "alpha.bin", 3 * CHUNK)
    b = tmp_path / "beta file.txt"
    b.write_text("beta " * 100000)
    ua, ub = tsn.put(a, b)
    rows = [l.split("\t") for l in tsn.run("ls").stdout.decode().splitlines()]
    assert sorted(r[0] for r in rows) == sorted([ua, ub])
    by_uri = {r[0]: r for r in rows}
    assert by_uri[ua][1:3] == [str(3 * CHUNK), "alpha.bin"]
    assert by_uri[ub][2] == "beta file.txt"

    st = tsn.run("stat").stdout.decode()
    assert re.search(r"files\s+2", st)
    assert re.search(r"pinned\s+[1-9]\d* chunks", st)

    tsn.run("rm", ua)
    rows = tsn.run("ls").stdout.decode().splitlines()
    assert len(rows) == 1 and rows[0].startswith(ub)
    p = tsn.run("rm", ua, check=False)
    one_line_error(p, "not one of your files")

    # Unpinned chunks are cache until gc drops them.
    out = tmp_path / "a.out"
    tsn.run("get", ua, "-o", out)
    assert files_equal(a, out)
    g = tsn.run("gc").stdout.decode()
    assert re.match(r"dropped [1-9]\d* chunks", g), g
    os.unlink(out)
    p = tsn.run("get", ua, "-o", out, check=False)
    one_line_error(p, "chunk")
    assert not os.path.exists(out)
    # b is untouched by all this
    tsn.run("get", ub, "-o", out)
    assert files_equal(b, out)
    assert tsn.run("gc").stdout.decode().startswith("dropped 0 chunks")


def test_shared_chunks_survive_rm(tsn, tmp_path):
    base = os.urandom(4 * CHUNK)
    a = tmp_path / "a"
    a.write_bytes(base)
    b = tmp_path / "b"
    b.write_bytes(base + os.urandom(CHUNK))  # same first four chunks
    ua, ub = tsn.put(a, b)
    tsn.run("rm", ua)
    tsn.run("gc")
    out = tmp_path / "out"
    tsn.run("get", ub, "-o", out)
    assert files_equal(b, out)


@pytest.mark.parametrize("bad", [
    "", "tsn:", "tsn:abc", "http://example.org/x", "TSN:" + "a" * 124,
    "tsn:" + "A" * 124, "tsn:" + "a" * 123, "tsn:" + "a" * 125, "tsn:" + "1" * 124,
])
def test_malformed_uri(tsn, tmp_path, bad):
    out = tmp_path / "out"
    for cmd in (["get", bad, "-o", out], ["cat", bad], ["rm", bad]):
        p = tsn.run(*cmd, check=False)
        one_line_error(p, "malformed URI")
    assert not os.path.exists(out)


def test_uri_checksum_catches_typos(tsn, tmp_path):
    src = write_random(tmp_path / "f", 5000)
    (uri,) = tsn.put(src)
    i = 20
    typo = uri[:i] + ("b" if uri[i] != "b" else "c") + uri[i + 1:]
    p = tsn.run("get", typo, "-o", tmp_path / "out", check=False)
    one_line_error(p, "malformed URI")


def test_missing_chunk(tsn, tmp_path):
    src = write_random(tmp_path / "f.bin", 5 * CHUNK)
    (uri,) = tsn.put(src)
    victim = chunk_files(tsn.datadir)[2]
    os.unlink(victim)
    out = tmp_path / "outdir" / "f.out"
    out.parent.mkdir()
    p = tsn.run("get", uri, "-o", out, check=False)
    line = one_line_error(p)
    # Either the missing chunk is a data chunk (named) or the root node.
    assert os.path.basename(victim) in line, line
    assert os.listdir(out.parent) == []  # no partial file, no temp file


def test_tampered_chunk(tsn, tmp_path):
    src = write_random(tmp_path / "f.bin", 5 * CHUNK)
    (uri,) = tsn.put(src)
    for victim in chunk_files(tsn.datadir):
        data = bytearray(open(victim, "rb").read())
        pos = random.randrange(len(data))
        data[pos] ^= 0x40
        with open(victim, "wb") as f:
            f.write(data)
        out = tmp_path / "outdir"
        out.mkdir(exist_ok=True)
        p = tsn.run("get", uri, "-o", out / "f.out", check=False)
        line = one_line_error(p, os.path.basename(victim))
        assert "mismatch" in line or "corrupt" in line or "tamper" in line, line
        assert os.listdir(out) == []
        data[pos] ^= 0x40
        with open(victim, "wb") as f:
            f.write(data)
    tsn.run("get", uri, "-o", tmp_path / "ok")
    assert files_equal(src, tmp_path / "ok")


def test_unreadable_input(tsn, tmp_path):
    good = write_random(tmp_path / "good", 1000)
    p = tsn.run("put", tmp_path / "nonexistent", good, tmp_path, "/proc/self/mem", check=False)
    assert p.returncode == 1
    uris = p.stdout.decode().splitlines()
    assert len(uris) == 1 and URI_RE.match(uris[0])  # the good file went in
    err = p.stderr.decode().strip().splitlines()
    assert len(err) == 3, err
    assert "nonexistent" in err[0] and "No such file" in err[0]
    assert "is a directory" in err[1]
    assert "/proc/self/mem" in err[2] and "read error" in err[2]
    rows = tsn.run("ls").stdout.decode().splitlines()
    assert len(rows) == 1


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "smallfs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs: " + r.stderr.decode().strip())
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def test_full_disk_put(tmp_path, small_fs):
    tsn = Tsn(small_fs / "data")
    small = write_random(tmp_path / "small", 100000)
    (u1,) = tsn.put(small)
    big = write_random(tmp_path / "big", 8 << 20)
    p = tsn.run("put", big, check=False)
    one_line_error(p, "no space")
    # The store still opens and the earlier file is intact.
    tsn.run("get", u1, "-o", tmp_path / "out")
    assert files_equal(small, tmp_path / "out")
    assert len(tsn.run("ls").stdout.decode().splitlines()) == 1
    tsn.run("gc")


def test_quota_put(tmp_path):
    tsn = Tsn(tmp_path / "data", global_args=["--quota", "1M"])
    big = write_random(tmp_path / "big", 4 << 20)
    p = tsn.run("put", big, check=False)
    one_line_error(p, "no space")
    small = write_random(tmp_path / "small", 300000)
    (u,) = tsn.put(small)
    tsn.run("get", u, "-o", tmp_path / "out")
    assert files_equal(small, tmp_path / "out")


def test_full_disk_get(tsn, tmp_path, small_fs):
    src = write_random(tmp_path / "f", 6 << 20)
    (uri,) = tsn.put(src)
    p = tsn.run("get", uri, "-o", small_fs / "f.out", check=False)
    one_line_error(p, "No space")
    assert os.listdir(small_fs) == []


def test_second_process_is_refused(tsn, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    holder = subprocess.Popen(tsn.cmd("put", fifo), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        w = open(fifo, "wb")  # the put now holds the data dir and waits for input
        deadline = time.time() + 30
        while True:
            p = tsn.run("ls", check=False)
            if p.returncode != 0 or time.time() > deadline:
                break
            time.sleep(0.1)
        one_line_error(p, "in use", f"pid {holder.pid}")
        w.write(b"hello")
        w.close()
        out, err = holder.communicate(timeout=60)
        assert holder.returncode == 0, err
        assert URI_RE.match(out.decode().strip())
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_big_file_identical_and_bounded_memory(tmp_path):
    """200 MiB random: byte-identical round trip; peak RSS of put < 64 MiB
    (measured on the release build: sanitizers inflate RSS)."""
    src = write_random(tmp_path / "big.bin", 200 << 20)
    tsn = Tsn(tmp_path / "data", build=BUILD_RELEASE)
    rc, out, err, rss_kib = run_rss(tsn.cmd("put", src), tmp_path)
    assert rc == 0, err
    uri = out.strip()
    assert URI_RE.match(uri)
    print(f"peak RSS of put of 200 MiB: {rss_kib / 1024:.1f} MiB")
    assert rss_kib < 64 * 1024, f"put peak RSS {rss_kib} KiB"
    tsn.run("get", uri, "-o", tmp_path / "big.out")
    assert files_equal(src, tmp_path / "big.out")


def run_rss(cmd, tmp_path):
    """Run cmd; return (exit code, stdout, stderr, peak RSS in KiB) of that process alone."""
    with open(tmp_path / "rss.out", "wb") as o, open(tmp_path / "rss.err", "wb") as e:
        proc = subprocess.Popen(cmd, stdout=o, stderr=e)
        _, status, ru = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return (proc.returncode, open(tmp_path / "rss.out").read(), open(tmp_path / "rss.err").read(),
            ru.ru_maxrss)


def test_kill_during_put(tmp_path):
    """SIGKILL a put at random moments: the store opens, earlier files are
    intact, and the put can simply be run again."""
    tsn = Tsn(tmp_path / "data")
    keep = [write_random(tmp_path / f"keep{i}", random.randrange(1, 3 * CHUNK)) for i in range(3)]
    uris = tsn.put(*keep)
    big = write_random(tmp_path / "big", 40 << 20)
    rng = random.Random(7)
    for _ in range(4):
        proc = subprocess.Popen(tsn.cmd("put", big), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.05, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        for src, uri in zip(keep, uris):
            tsn.run("get", uri, "-o", tmp_path / "out")
            assert files_equal(src, tmp_path / "out")
    (ubig,) = tsn.put(big)
    tsn.run("get", ubig, "-o", tmp_path / "out")
    assert files_equal(big, tmp_path / "out")
    tsn.run("gc")
    rows = tsn.run("ls").stdout.decode().splitlines()
    assert len(rows) == 4
    tsn.run("get", ubig, "-o", tmp_path / "out")
    assert files_equal(big, tmp_path / "out")
