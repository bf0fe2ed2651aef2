"""Durability (issue 7): repair after mass failure, graceful leave.

Uses the release build (TSN_BUILD_RELEASE): 30 ASan daemons are too slow
on a small CI machine. Rolling churn is NOT tested here yet."""
import random
import time

from conftest import BUILD_RELEASE, Network, files_equal, write_random

R = 5
REPAIR_S = 2
ARGS = ["--repair-interval", str(REPAIR_S), "--leave-on-exit"]


def held(d):
    for line in d.tsn.run("stat").stdout.decode().splitlines():
        w = line.split()
        if w and w[0] == "held":
            return int(w[1])
    raise AssertionError("no held line in tsn stat")


def pinned(d):
    for line in d.tsn.run("stat").stdout.decode().splitlines():
        w = line.split()
        if w and w[0] == "pinned":
            return int(w[1])
    raise AssertionError("no pinned line in tsn stat")


def read_all(node, files, tmp_path, tag):
    for i, (uri, src) in enumerate(files):
        out = tmp_path / f"{tag}-{i}.bin"
        node.tsn.run("get", uri, "-o", out, timeout=120)
        assert files_equal(src, out), f"{uri} differs on {node.name}"


def test_repair_after_mass_failure_and_leave(tmp_path):
    rnd = random.Random(7)
    net = Network(tmp_path, build=BUILD_RELEASE)
    try:
        nodes = net.start(30, args=ARGS)
        net.wait_peers(nodes, 10, timeout=90)
        files, owners = [], set()
        for i in range(20):
            owner = rnd.choice(nodes)
            owners.add(owner.name)
            src = write_random(tmp_path / f"f{i}.bin", 300_000 + i * 7919, seed=i)
            (uri,) = owner.tsn.run("put", src).stdout.decode().split()
            files.append((uri, src))
        nblocks = sum(pinned(d) for d in nodes)
        victims = rnd.sample([d for d in nodes if d.name not in owners], 9)
        for d in victims:
            d.kill()
        live = [d for d in nodes if d not in victims]
        # every chunk back at R nodes: R - 1 held copies at least besides the
        # owner's pinned one (which is held too when the owner is among the R)
        deadline = time.monotonic() + 60
        while sum(held(d) for d in live) < (R - 1) * nblocks:
            assert time.monotonic() < deadline, (sum(held(d) for d in live), nblocks)
            time.sleep(REPAIR_S)
        t0 = time.monotonic()
        read_all(rnd.choice(live), files, tmp_path, "after-kill")
        # graceful leave of the busiest holders, one at a time: nothing lost
        for _ in range(3):
            busiest = max((d for d in live if d.name not in owners), key=held)
            assert busiest.stop() == 0
            live.remove(busiest)
            read_all(rnd.choice(live), files, tmp_path, f"after-leave-{busiest.name}")
        print(f"\n30 nodes, 20 files ({nblocks} blocks): reads after repair {time.monotonic() - t0:.1f} s")
    finally:
        problems = net.finish()
    assert not problems, "\n".join(problems)
