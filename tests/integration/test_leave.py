"""`tsn leave`: the node on a data dir hands what it holds (chunks and DHT
records) to the nodes closest to it, answers with what it handed on, and
stops; nothing is lost."""
import os
import re
import time

from conftest import Tsn, files_equal, write_random

LEAVE_RE = re.compile(r"handed (\d+) chunks on to other nodes \((\d+) with fewer than r copies, "
                      r"(\d+) not placed\) and (\d+) records \((\d+) not placed\); "
                      r"the node stops")


def held(d):
    m = re.search(r"held\s+(\d+) chunks", d.tsn.run("stat").stdout.decode())
    return int(m.group(1))


def test_leave_hands_on_and_stops(network, tmp_path):
    nodes = network.start(6, args=["--replicas", "3"])
    network.wait_peers(nodes, 5)
    owner = nodes[0]
    src = write_random(tmp_path / "f.bin", 3 << 20)
    (uri,) = owner.tsn.put(src)

    # The holder with the most chunks (not the owner) leaves.
    others = nodes[1:]
    leaver = max(others, key=held)
    n_held = held(leaver)
    assert n_held > 0
    p = leaver.tsn.run("leave")
    out = p.stdout.decode()
    m = LEAVE_RE.match(out)
    assert m, out
    print(f"{leaver.name} held {n_held}: {out.strip()}")
    assert int(m.group(1)) == n_held and int(m.group(3)) == 0, out

    # It stops by itself, cleanly.
    leaver.stopped = True
    deadline = time.monotonic() + 30
    while leaver.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leaver.proc.returncode == 0, leaver.log()

    # The file still reads, whole, from a node that had none of it and after
    # the owner is gone too (so the copies really are elsewhere).
    owner.stop()
    owner.stopped = True
    reader = network.add(bootstrap=[nodes[1].addr if nodes[1] is not leaver else nodes[2].addr])
    network.wait_peers([reader], 1)
    reader.tsn.run("get", uri, "-o", tmp_path / "out")
    assert files_equal(src, tmp_path / "out")


def records(d):
    return int(d.status()["records"])


def test_leave_hands_records_on(network, tmp_path):
    """The keyword records of a file whose publisher is gone, held by the
    leaver only (the other nodes joined after they were stored), are still
    found by a search from a newcomer after the leaver stopped."""
    pub = network.add()
    leaver = network.add(bootstrap=[pub.addr])
    network.wait_peers([pub, leaver], 1)
    src = write_random(tmp_path / "quokka leavetest.bin", 200_000)
    (uri,) = pub.tsn.put(src)
    # the keyword records (at most k nodes: both); the status snapshot
    # follows within 250 ms
    deadline = time.monotonic() + 10
    while records(leaver) == 0:
        assert time.monotonic() < deadline, "the leaver holds no record"
        time.sleep(0.1)
    time.sleep(0.5)  # every record of the put counted
    held_records = records(leaver)
    pub.stop()  # the publisher is gone, and republishes nothing more

    others = [network.add(bootstrap=[leaver.addr]) for _ in range(3)]
    network.wait_peers(others, 3)
    assert all(records(d) == 0 for d in others)  # only the leaver holds them

    p = leaver.tsn.run("leave")
    out = p.stdout.decode()
    m = LEAVE_RE.match(out)
    assert m, out
    assert int(m.group(4)) == held_records and int(m.group(5)) == 0, out
    leaver.stopped = True
    deadline = time.monotonic() + 30
    while leaver.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leaver.proc.returncode == 0, leaver.log()
    # at another node now (the put reported 2 nodes or more: the leaver and
    # another); the status snapshots follow within 250 ms
    deadline = time.monotonic() + 10
    while sum(records(d) for d in others) < held_records:
        assert time.monotonic() < deadline, [records(d) for d in others]
        time.sleep(0.2)

    # A newcomer finds the file by its words, and reads it (the chunks went
    # with the leave too).
    reader = network.add(bootstrap=[others[0].addr])
    network.wait_peers([reader], 1)
    found = reader.tsn.run("search", "--timeout", "5", "quokka", "leavetest").stdout.decode()
    assert uri in found, found
    reader.tsn.run("get", uri, "-o", tmp_path / "out")
    assert files_equal(src, tmp_path / "out")


def test_mount_leave_on_exit(network, mounts, tmp_path):
    """A mount with leave_on_exit (and repair options, which must parse and
    reach the node) hands its chunks on at unmount: afterwards every chunk
    of its file is held at r of the tsnd nodes, and the file reads from a
    node with the mount gone."""
    r = 3
    nodes = network.start(4, args=["--replicas", str(r)])
    network.wait_peers(nodes, 3)
    m = mounts.new("a", opts=[f"bootstrap={nodes[0].addr}", f"replicas={r}", "leave_on_exit",
                              "repair_interval=600", "republish_interval=3600",
                              "records_interval=3600", "held_ttl=86400"])
    deadline = time.monotonic() + 60
    while int(m.info()["peers"]) < 4:
        assert time.monotonic() < deadline, m.info()
        time.sleep(0.2)
    src = write_random(tmp_path / "f.bin", 2_000_000)
    with open(src, "rb") as f, open(m.path("f.bin"), "wb") as g:
        g.write(f.read())
    uri = os.getxattr(m.path("f.bin"), "user.tsn.uri").decode()
    deadline = time.monotonic() + 60
    while m.info()["pushes_pending"] != "0":
        assert time.monotonic() < deadline, m.info()
        time.sleep(0.2)
    nblocks = 0
    for line in Tsn(m.datadir).run("stat").stdout.decode().splitlines():
        w = line.split()
        if w and w[0] == "pinned":
            nblocks = int(w[1])
    assert nblocks > 0
    assert m.stop() == 0, m.log()
    assert re.search(rf"leave: {nblocks} chunks handed on, 0 with fewer copies, 0 not placed",
                     m.log()), m.log()
    assert sum(held(d) for d in nodes) == r * nblocks, [held(d) for d in nodes]
    nodes[1].tsn.run("get", uri, "-o", tmp_path / "out")
    assert files_equal(src, tmp_path / "out")


def test_leave_needs_a_node(tsn):
    p = tsn.run("leave", check=False)
    assert p.returncode == 1
    assert "no node runs" in p.stderr.decode()
