"""`tsn leave`: the node on a data dir hands what it holds to the nodes
closest to it, answers with what it handed on, and stops; nothing is lost."""
import re
import time

from conftest import files_equal, write_random


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
    m = re.match(r"handed (\d+) chunks on to other nodes \((\d+) with fewer than r copies, "
                 r"(\d+) not placed\); the node stops", out)
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


def test_leave_needs_a_node(tsn):
    p = tsn.run("leave", check=False)
    assert p.returncode == 1
    assert "no node runs" in p.stderr.decode()
