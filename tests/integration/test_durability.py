"""Durability (issue 7): repair after mass failure, graceful leave.

Also rolling churn (release build as well) and the lifetime of held
chunks (--held-ttl). The tests with many nodes use the release build
(TSN_BUILD_RELEASE): 18 or 30 ASan daemons are too slow on a small CI
machine."""
import os
import random
import shutil
import signal
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


# ---- held-chunk lifetime (--held-ttl) ----

TTL_S = 10


def chunk_ids(d):
    """The ids of the chunk bodies in d's store (chunks/ab/<hex id>)."""
    root = os.path.join(d.datadir, "chunks")
    return {f for _, _, fs in os.walk(root) for f in fs if len(f) == 64}


def copies(nodes, ids):
    """Per chunk id, how many of the nodes keep its body."""
    have = [chunk_ids(d) for d in nodes]
    return {i: sum(i in h for h in have) for i in ids}


def test_held_chunks_expire_unless_republished(network, tmp_path):
    """Owner 2 puts a file and keeps republishing (checks every 2 s); owner 1
    puts one and stops for good. r = 3, --held-ttl 10 s, repair every 2 s.
    Copies are counted per chunk, from the chunk bodies in each live node's
    store (nothing fetches file 1, so none is cached): file 1's chunks are
    at r - 1 live nodes or more after its owner stopped, and then at none
    once their lifetime is over (repair must not renew them: a copy made
    by repair keeps the age of the copy it came from); file 2's chunks stay
    at r nodes through two more lifetimes (owner 2's checks renew them).
    Then, with every cached copy dropped (tsn gc), file 1 no longer reads
    and file 2 does."""
    r = 3
    args = ["--replicas", str(r), "--repair-interval", "2", "--republish-interval", "2",
            "--held-ttl", str(TTL_S)]
    nodes = network.start(6, args=args)
    network.wait_peers(nodes, 5)
    o1, o2 = nodes[1], nodes[2]
    live = [d for d in nodes if d is not o1]
    src1 = write_random(tmp_path / "f1.bin", 700_000)
    src2 = write_random(tmp_path / "f2.bin", 900_000)
    before = chunk_ids(o2)
    (uri2,) = o2.tsn.put(src2)
    ids2 = chunk_ids(o2) - before
    assert len(ids2) == pinned(o2), (len(ids2), pinned(o2))
    before = chunk_ids(o1)
    (uri1,) = o1.tsn.put(src1)
    ids1 = chunk_ids(o1) - before
    assert len(ids1) == pinned(o1), (len(ids1), pinned(o1))
    assert o1.stop() == 0
    t_stop = time.monotonic()
    # owner 1's own copies went with it; repair (every 2 s) makes up for
    # them well within the lifetime
    while min(copies(live, ids1).values()) < r - 1:
        assert time.monotonic() < t_stop + TTL_S / 2, copies(live, ids1)
        time.sleep(0.5)
    deadline = t_stop + 3 * TTL_S + 30
    while max(copies(live, ids1).values()) > 0:
        assert time.monotonic() < deadline, \
            f"{time.monotonic() - t_stop:.0f} s after owner 1 stopped, file 1's chunks " \
            f"still at {sorted(copies(live, ids1).values())} nodes (TTL {TTL_S} s)"
        assert min(copies(live, ids2).values()) >= r - 1, copies(live, ids2)
        time.sleep(1)
    t_gone = time.monotonic() - t_stop
    assert t_gone >= TTL_S - 1, f"file 1's copies gone {t_gone:.1f} s after its owner, TTL {TTL_S}"
    end = time.monotonic() + 2 * TTL_S
    while time.monotonic() < end:
        assert min(copies(live, ids2).values()) >= r - 1, copies(live, ids2)
        assert max(copies(live, ids1).values()) == 0, copies(live, ids1)
        time.sleep(2)
    deadline = time.monotonic() + 20
    while min(copies(live, ids2).values()) < r:
        assert time.monotonic() < deadline, copies(live, ids2)
        time.sleep(1)

    for d in live:
        d.tsn.run("gc")
    reader = live[-1]
    p = reader.tsn.run("get", uri1, "-o", tmp_path / "out1", check=False, timeout=120)
    assert p.returncode == 1, "file 1 still reads after every copy expired"
    reader.tsn.run("get", uri2, "-o", tmp_path / "out2", timeout=120)
    assert files_equal(src2, tmp_path / "out2")
    print(f"\nheld TTL {TTL_S} s: file 1 ({len(ids1)} blocks) gone {t_gone:.1f} s after its "
          f"owner stopped; file 2 ({len(ids2)} blocks) kept at {r} nodes")


# ---- rolling churn ----

CHURN_NODES = 18
CHURN_S = 60
CHURN_STEP_S = 2
CHURN_ARGS = ["--repair-interval", str(REPAIR_S)]


def test_rolling_churn(tmp_path):
    """Rolling churn: every CHURN_STEP_S seconds for CHURN_S seconds a
    random node stops and, once two are down, the one down longest starts
    again on its port, while a reader reads the files, each read from the
    network (its cached copies dropped by `tsn gc` first). Stops alternate:
    SIGTERM (the node comes back with its store) and SIGKILL followed by
    the loss of its data dir (it comes back as a new, empty node: its
    copies are gone for good). No --leave-on-exit: only repair puts copies
    back.

    The owners stop for good once every chunk is at r = 5 nodes, so reads
    rest on the copies held for the network alone. A copy is lost for good
    every 2 steps (4 s) and repair runs every 2 s, so what one loss took is
    back before the next: with at most two nodes down at once a chunk keeps
    at least 2 live copies, and every read must succeed, during the churn
    and after it; at the end every chunk is at r nodes again. (Without
    repair, 15 data dirs lost out of 14 churned nodes lose chunks: with
    --repair-interval 600 reads fail within the minute.)
    Release build (tsnd x 18)."""
    rnd = random.Random(11)
    net = Network(tmp_path, build=BUILD_RELEASE)
    try:
        nodes = net.start(CHURN_NODES, args=CHURN_ARGS)
        net.wait_peers(nodes, 10, timeout=90)
        reader, owners = nodes[1], nodes[2:4]  # nodes[0]: everyone's bootstrap, stays
        churned = nodes[4:]
        files = []
        for i in range(6):
            src = write_random(tmp_path / f"c{i}.bin", 200_000 + i * 150_000)
            (uri,) = owners[i % 2].tsn.run("put", src).stdout.decode().split()
            files.append((uri, src))
        nblocks = sum(pinned(d) for d in owners)
        for d in owners:
            assert d.stop() == 0
        live = [d for d in nodes if d not in owners]

        def settled():
            deadline = time.monotonic() + 60
            while sum(held(d) for d in live) < R * nblocks:
                assert time.monotonic() < deadline, (sum(held(d) for d in live), nblocks)
                time.sleep(REPAIR_S)
        settled()

        down, stops, reads, t0 = [], 0, 0, time.monotonic()
        next_step = t0
        while time.monotonic() - t0 < CHURN_S:
            if time.monotonic() >= next_step:
                next_step += CHURN_STEP_S
                if len(down) == 2:
                    d = down.pop(0)
                    d.proc.stdout.close()
                    d.start()
                d = rnd.choice([x for x in churned if x not in down])
                if stops % 2 == 0:
                    assert d.stop() == 0, d.log()[-3000:]
                else:
                    d.kill()
                    shutil.rmtree(d.datadir)
                down.append(d)
                stops += 1
            uri, src = files[reads % len(files)]
            out = tmp_path / "read.bin"
            reader.tsn.run("gc")
            reader.tsn.run("get", uri, "-o", out, timeout=120)
            assert files_equal(src, out), f"{uri} differs, read {reads}, {stops} stops"
            reads += 1
        for d in down:
            d.proc.stdout.close()
            d.start()
        net.wait_peers(live, 5, timeout=60)
        settled()
        reader.tsn.run("gc")
        read_all(reader, files, tmp_path, "after-churn")
        print(f"\nrolling churn: {CHURN_NODES} nodes, {stops} stops in {CHURN_S} s, "
              f"{reads} reads of {len(files)} files ({nblocks} blocks), none failed")
        # all at once (faster than Network.finish, one by one)
        for d in live:
            d.stopped = True
            d.proc.send_signal(signal.SIGTERM)
        for d in live:
            assert d.proc.wait(timeout=60) == 0, f"{d.name}:\n{d.log()[-3000:]}"
    finally:
        problems = net.finish()
    assert not problems, "\n".join(problems)
