"""tsnd and the tsn commands through its control socket: a network of one,
`tsn status` and `tsn peers`, the socket file, bad options, and 20 nodes on
127.0.0.1 (a file put on one is fetched from another, again after two of
its holders are killed, and by a node restarted through its saved peers).

TSN_NET_BIG_MIB sets the size of the big file (default 50)."""
import os
import re
import signal
import stat
import subprocess
import time

import pytest

from conftest import (BUILD, URI_RE, Network, Tsn, files_equal, tsnd_exe, write_random)

MIB = 1 << 20
BIG = int(os.environ.get("TSN_NET_BIG_MIB", "50")) * MIB
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def one_line_error(p, *words):
    err = p.stderr.decode()
    assert p.returncode == 1, f"exit {p.returncode}, stderr {err!r}"
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {err!r}"
    for w in words:
        assert w in lines[0], f"{w!r} not in {lines[0]!r}"
    return lines[0]


def chunks(d, role):
    """Chunks of a role ('pinned', 'held', 'cached', 'pending') from `tsn stat`."""
    for line in d.tsn.run("stat").stdout.decode().splitlines():
        if line.startswith(role + " "):
            return int(line.split()[1])
    raise AssertionError(f"no {role} line in tsn stat")


def get_ok(d, uri, src, out):
    if os.path.exists(out):
        os.unlink(out)
    t = time.monotonic()
    d.tsn.run("get", uri, "-o", out, timeout=300)
    took = time.monotonic() - t
    assert files_equal(src, out), f"{d.name}: the file fetched differs"
    return took


def test_status_and_peers_need_a_node(tsn):
    for cmd in ("status", "peers"):
        p = tsn.run(cmd, check=False)
        line = one_line_error(p)
        assert line == f"tsn: {cmd}: no node runs on {tsn.datadir} (start tsnd)"


@pytest.mark.parametrize("args, word", [
    ([], "--port"),
    (["--port", "x"], "--port"),
    (["--port", "70000"], "--port"),
    (["--port", "0", "--host", "localhost"], "--host"),
    (["--port", "0", "--bootstrap", "1.2.3.4"], "--bootstrap"),
    (["--port", "0", "--bootstrap", "127.0.0.1:1,"], "--bootstrap"),
    (["--port", "0", "--replicas", "0"], "--replicas"),
    (["--port", "0", "--quota", "lots"], "--quota"),
    (["--port", "0", "--timeout", "0"], "--timeout"),
    (["--port", "0", "--frobnicate"], "--frobnicate"),
    (["--port", "0", "extra"], "extra"),
])
def test_tsnd_bad_options(tmp_path, args, word):
    p = subprocess.run([tsnd_exe(), "--datadir", str(tmp_path / "d")] + args,
                       capture_output=True, timeout=30)
    err = p.stderr.decode()
    assert p.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tsnd: ") and word in lines[0], err
    assert not os.path.exists(tmp_path / "d")


def test_tsnd_help():
    p = subprocess.run([tsnd_exe(), "--help"], capture_output=True, timeout=30)
    assert p.returncode == 0
    text = p.stdout.decode()
    assert text.startswith("usage: tsnd")
    for opt in ("--datadir", "--port", "--host", "--bootstrap", "--replicas", "--quota",
                "--timeout", "-v", "-q"):
        assert opt in text


def test_tsn_help_mentions_the_node(tsn):
    text = tsn.run("--help").stdout.decode()
    for word in ("status", "peers", "tsnd", "control.sock"):
        assert word in text
    for cmd in ("status", "peers"):
        assert tsn.run(cmd, "--help").stdout.decode().startswith("usage: tsn " + cmd)


def test_sigint_stops_cleanly(network):
    d = network.add()
    d.proc.send_signal(signal.SIGINT)
    assert d.proc.wait(timeout=30) == 0
    d.stopped = True
    assert not os.path.exists(os.path.join(d.datadir, "control.sock"))


def test_network_of_one(network, tmp_path):
    d = network.add()
    assert HEX64.match(d.id)
    st = d.status()
    assert st["node"] == d.id
    assert st["address"] == f"127.0.0.1:{d.port}"
    assert st["peers"] == "0" and st["replicas"] == "5"
    p = d.tsn.run("peers")
    assert p.stdout == b"" and p.stderr == b""

    sock = os.path.join(d.datadir, "control.sock")
    assert stat.S_ISSOCK(os.lstat(sock).st_mode)
    assert stat.S_IMODE(os.lstat(sock).st_mode) == 0o600

    src = write_random(tmp_path / "f.bin", 3 * 256 * 1024 + 777)
    p = d.tsn.run("put", src)
    (uri,) = p.stdout.decode().splitlines()
    assert URI_RE.match(uri) and p.stderr == b""
    (priv,) = d.tsn.put(src, private=True)
    assert priv != uri
    get_ok(d, uri, src, tmp_path / "out.bin")
    assert d.tsn.run("cat", uri).stdout == open(src, "rb").read()
    ls = d.tsn.run("ls").stdout.decode().splitlines()
    assert f"{uri}\t{os.path.getsize(src)}\tf.bin" in ls
    assert f"{priv}\t{os.path.getsize(src)}\tf.bin\tprivate" in ls
    assert chunks(d, "pinned") > 0

    # Errors through the node: the same one line, exit 1, no partial OUT.
    p = d.tsn.run("put", tmp_path / "nope", check=False)
    one_line_error(p, "nope", "No such file")
    p = d.tsn.run("put", tmp_path, check=False)
    one_line_error(p, "is a directory")
    p = d.tsn.run("get", "tsn:abc", check=False)
    one_line_error(p, "malformed URI")
    other = Tsn(tmp_path / "other")
    (missing,) = other.put(write_random(tmp_path / "g.bin", 1000))
    p = d.tsn.run("get", missing, "-o", tmp_path / "m.bin", check=False)
    one_line_error(p, "tsn: get: chunk ", "missing")
    assert not [f for f in os.listdir(tmp_path) if f.startswith("m.bin")]

    d.tsn.run("rm", uri)
    p = d.tsn.run("rm", uri, check=False)
    one_line_error(p, "not one of your files")
    assert "dropped" in d.tsn.run("gc").stdout.decode()

    # Stopped: the commands work offline on the same data dir.
    assert d.stop() == 0
    assert not os.path.exists(sock)
    assert d.tsn.put(src, private=True) == [priv]  # the same per-user secret
    ls = d.tsn.run("ls").stdout.decode()
    assert priv in ls and uri not in ls
    one_line_error(d.tsn.run("status", check=False), "no node runs")


def test_port_in_use(network, tmp_path):
    d = network.add()
    p = subprocess.run([tsnd_exe(), "--datadir", str(tmp_path / "other"), "--port", str(d.port),
                        "--host", "127.0.0.1"], capture_output=True, timeout=60)
    err = p.stderr.decode().strip().splitlines()
    assert p.returncode == 1 and len(err) == 1 and str(d.port) in err[0], err
    assert p.stdout == b""


def test_stale_socket_and_second_daemon(network, tmp_path):
    d = network.add()
    second = subprocess.run([tsnd_exe(), "--datadir", d.datadir, "--port", "0",
                             "--host", "127.0.0.1"], capture_output=True, timeout=60)
    assert second.returncode == 1
    assert "in use by another process" in second.stderr.decode()
    d.kill()  # leaves a stale control.sock behind
    sock = os.path.join(d.datadir, "control.sock")
    assert os.path.exists(sock)
    # No node answers there: tsn works offline.
    src = write_random(tmp_path / "f.bin", 5000)
    (uri,) = d.tsn.put(src)
    one_line_error(d.tsn.run("status", check=False), "no node runs")
    d.start(port=0)  # replaces the stale socket
    assert d.status()["node"] == d.id
    get_ok(d, uri, src, tmp_path / "o.bin")


def test_twenty_nodes(network, tmp_path):
    """20 nodes: put on node 1, get on node 20 (empty store), kill two
    holders and get from a new empty node, restart a node through its saved
    peers. Also checks `tsn status` and `tsn peers` across the network."""
    t0 = time.monotonic()
    nodes = network.start(20)
    n1, n20 = nodes[0], nodes[-1]
    # Let the tables fill: every node should come to know most others.
    network.wait_peers(nodes, 10, timeout=60)
    t_start = time.monotonic() - t0

    ports = {d.port for d in nodes}
    ids = {d.id for d in nodes}
    p = n20.tsn.run("peers")
    lines = p.stdout.decode().splitlines()
    assert len(lines) >= 10  # a snapshot, refreshed apart from the status counts
    for line in lines:
        pid, addr = line.split("\t")
        assert pid in ids and pid != n20.id
        host, port = addr.rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) in ports

    for role in ("pinned", "held", "cached", "pending"):
        assert chunks(n20, role) == 0
    src = write_random(tmp_path / "big.bin", BIG)
    t = time.monotonic()
    p = n1.tsn.run("put", src, timeout=600)
    t_put = time.monotonic() - t
    (uri,) = p.stdout.decode().splitlines()
    assert URI_RE.match(uri)
    held = {d.name: chunks(d, "held") for d in nodes}
    nblocks = chunks(n1, "pinned")
    # r = 5 copies of every block somewhere (n1 may count itself).
    assert sum(held.values()) >= 4 * nblocks, (held, nblocks)
    st = n1.status()
    assert int(st["chunks"].split("pushed ")[1]) >= 4 * nblocks

    t_get20 = get_ok(n20, uri, src, tmp_path / "o20.bin")
    assert chunks(n20, "cached") + chunks(n20, "held") >= nblocks

    # Kill the originator (it holds every block, pinned) and the node
    # holding most blocks for the network; a new, empty node fetches it.
    victims = [n1] + sorted((d for d in nodes[1:-1]), key=lambda d: -held[d.name])[:1]
    for d in victims:
        d.kill()
    live = [d for d in nodes if d not in victims]
    n21 = network.add(bootstrap=[live[0].addr], name="n21")
    network.wait_peers([n21], 5, timeout=60)
    t_get21 = get_ok(n21, uri, src, tmp_path / "o21.bin")

    # A node stopped cleanly and restarted without --bootstrap rejoins
    # through the peers it saved.
    r = next(d for d in reversed(nodes[1:-1]) if d not in victims)
    assert r.stop() == 0
    r.start(port=r.port, bootstrap=[])
    network.wait_peers([r], 1, timeout=60)
    deadline = time.monotonic() + 10  # the contact list is a snapshot, refreshed often
    while r.tsn.run("peers").stdout.decode().strip() == "":
        assert time.monotonic() < deadline, "restarted node lists no peers"
        time.sleep(0.2)
    get_ok(r, uri, src, tmp_path / "or.bin")
    print(f"\n20 nodes: start {t_start:.1f} s, put {BIG // MIB} MiB {t_put:.1f} s, "
          f"get on node 20 {t_get20:.1f} s, on a new node after 2 kills {t_get21:.1f} s")


def test_quota_through_the_node(network, tmp_path):
    """A put over the node's quota fails early with one line; the next file
    of the same command still goes in; nothing of the failed one stays."""
    d = network.add(args=["--quota", "1M"])
    big = write_random(tmp_path / "big.bin", 4 * MIB)
    small = write_random(tmp_path / "small.bin", 1000)
    p = d.tsn.run("put", big, small, check=False)
    assert p.returncode == 1
    lines = p.stdout.decode().splitlines()
    assert len(lines) == 1 and URI_RE.match(lines[0])
    err = p.stderr.decode().strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"tsn: put: {big}: no space left"), err
    get_ok(d, lines[0], small, tmp_path / "o.bin")
    assert chunks(d, "pending") == 0
    assert len(d.tsn.run("ls").stdout.decode().splitlines()) == 1


def test_concurrent_clients(network, tmp_path):
    """Puts and gets on one node from several clients at once."""
    d = network.add()
    srcs = [write_random(tmp_path / f"f{i}.bin", (i + 1) * 700_000) for i in range(6)]
    procs = [subprocess.Popen(d.tsn.cmd("put", s), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for s in srcs]
    uris = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        uris.append(out.decode().strip())
    procs = [subprocess.Popen(d.tsn.cmd("get", u, "-o", tmp_path / f"o{i}.bin"),
                              stderr=subprocess.PIPE) for i, u in enumerate(uris)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    for i, s in enumerate(srcs):
        assert files_equal(s, tmp_path / f"o{i}.bin")


def test_stop_during_put(network, tmp_path):
    """SIGTERM while a put streams from a pipe that never ends: the node
    stops cleanly at once (exit 0), the put fails with one line, and the
    data dir opens offline with nothing recorded."""
    d = network.add()
    feeder = subprocess.Popen(["sh", "-c", "head -c 3000000 /dev/urandom; sleep 60"],
                              stdout=subprocess.PIPE)
    put = subprocess.Popen(d.tsn.cmd("put", "-"), stdin=feeder.stdout,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    feeder.stdout.close()
    try:
        deadline = time.monotonic() + 30
        while chunks(d, "pending") < 5:  # wait until the node is encoding it
            assert time.monotonic() < deadline
            time.sleep(0.1)
        t = time.monotonic()
        assert d.stop() == 0
        assert time.monotonic() - t < 10
        out, err = put.communicate(timeout=30)
        assert put.returncode == 1 and out == b""
        assert len(err.decode().strip().splitlines()) == 1, err
    finally:
        feeder.kill()
        feeder.wait()
        put.kill()
        put.wait()
    assert d.tsn.run("ls").stdout == b""
