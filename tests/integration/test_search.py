"""Keyword search across 10 tsnd and 2 mounts on 127.0.0.1: three files with
overlapping title words shared from three nodes (one through a mount, one
with extra --keywords); from a fourth node (a mount), `tsn search` and `ls`
of search/ folders for one word, two words, and a word nobody has (an empty
folder); contents read through search/ equal the originals; `tsn rm`
withdraws; a forged keyword record sent to a storing node is refused and
never shown. Bounded in time; loopback only."""
import hashlib
import os
import random
import socket
import struct
import subprocess
import threading
import time

from conftest import files_equal, write_random

STORE, STORE_ACK = 7, 8


def search(tsn, *words, timeout=5):
    out = tsn.run("search", "--timeout", str(timeout), *words).stdout.decode()
    res = {}
    for line in out.splitlines():
        name, size, uri = line.split("\t")
        res[name] = (int(size), uri)
    return res


def wait_search(tsn, words, want, deadline=30):
    end = time.monotonic() + deadline
    while True:
        got = search(tsn, *words)
        if set(got) == want or time.monotonic() > end:
            return got
        time.sleep(0.3)


def forged_keyword_record(rng):
    """A KEYWORD record whose key and salt bindings hold but whose two
    signatures are garbage (docs/protocol.md, "Records")."""
    pk = rng.randbytes(32)
    slot_pk = rng.randbytes(32)
    key = hashlib.blake2b(b"tsn/kw/" + pk, digest_size=32).digest()
    salt = hashlib.blake2b(slot_pk, digest_size=16).digest()
    value = slot_pk + rng.randbytes(64) + rng.randbytes(120)
    expiry = int(time.time() * 1000) + 3600_000
    return (struct.pack(">BB", 1, 3) + key + struct.pack(">QQB", 1, expiry, 16) + salt +
            struct.pack(">H", len(value)) + value + pk + rng.randbytes(64))


def test_search(tmp_path, network, mounts):
    t0 = time.monotonic()
    nodes = network.start(10)
    boot = nodes[0].addr
    share = mounts.new("share", opts=(f"bootstrap={boot}",))
    look = mounts.new("look", opts=(f"bootstrap={boot}",))

    src = tmp_path / "src"
    src.mkdir()
    a = src / "Terra Pins - Live.mp3"
    b = src / "terra nova.txt"
    c = src / "Pins and Needles.ogg"
    write_random(str(a), 700_000, seed=1)
    write_random(str(b), 3000, seed=2)
    write_random(str(c), 300_000, seed=3)

    ua = nodes[1].tsn.put(str(a))[0]
    ub = nodes[2].tsn.run("put", "--keywords", "ocean", str(b)).stdout.decode().split()[0]
    subprocess.run(["cp", str(c), share.path(c.name)], check=True, timeout=60)
    uc = subprocess.run(["getfattr", "--only-values", "-n", "user.tsn.uri", share.path(c.name)],
                        capture_output=True, check=True, timeout=30).stdout.decode().strip()

    ltsn = nodes[0].tsn.__class__(look.datadir)  # tsn through the mount's node
    got = wait_search(ltsn, ["terra"], {a.name, b.name})
    assert got == {a.name: (700_000, ua), b.name: (3000, ub)}
    got = wait_search(ltsn, ["PINS"], {a.name, c.name})
    assert got == {a.name: (700_000, ua), c.name: (300_000, uc)}
    assert search(ltsn, "terra", "pins") == {a.name: (700_000, ua)}
    assert search(ltsn, "ocean") == {b.name: (3000, ub)}
    assert search(ltsn, "zzzunknownword", timeout=2) == {}

    # search/ folders on the fourth node
    assert sorted(os.listdir(look.path("search", "terra"))) == sorted([a.name, b.name])
    assert os.listdir(look.path("search", "terra pins")) == [a.name]
    assert os.listdir(look.path("search", "zzzunknownword")) == []
    assert sorted(os.listdir(look.path("search"))) == ["terra", "terra pins", "zzzunknownword"]
    for f, uri in ((a, ua), (b, ub)):
        p = look.path("search", "terra", f.name)
        assert os.path.getsize(p) == f.stat().st_size
        assert files_equal(str(f), p)
        x = subprocess.run(["getfattr", "--only-values", "-n", "user.tsn.uri", p],
                           capture_output=True, check=True, timeout=30).stdout.decode().strip()
        assert x == uri
    out = tmp_path / "copy.ogg"
    subprocess.run(["cp", look.path("search", "pins", c.name), str(out)], check=True, timeout=60)
    assert files_equal(str(c), str(out))
    os.rmdir(look.path("search", "terra pins"))
    assert "terra pins" not in os.listdir(look.path("search"))

    # a forged keyword record is refused by the storing node
    rng = random.Random(7)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        before = int(nodes[3].status()["records"])
        rec = forged_keyword_record(rng)
        msg = struct.pack(">BBQ", 1, STORE, 42) + rng.randbytes(32) + rec
        s.sendto(msg, ("127.0.0.1", nodes[3].port))
        reply, _ = s.recvfrom(2048)
        assert reply[1] == STORE_ACK and reply[2:10] == struct.pack(">Q", 42)
        assert reply[-1] != 0, "forged keyword record accepted"
        assert int(nodes[3].status()["records"]) == before
    finally:
        s.close()

    # withdrawing: tsn rm publishes a tombstone in the same slot
    nodes[2].tsn.run("rm", ub)
    got = wait_search(ltsn, ["terra"], {a.name})
    assert got == {a.name: (700_000, ua)}
    assert time.monotonic() - t0 < 120


def test_search_rename(tmp_path, network, mounts):
    """Sharing follows the name: a file renamed in the mount is found by the
    new name's words, and the old name's records are withdrawn (tombstoned)."""
    t0 = time.monotonic()
    nodes = network.start(6)
    share = mounts.new("share", opts=(f"bootstrap={nodes[0].addr}",))
    src = tmp_path / "alpha beta.txt"
    write_random(str(src), 5000, seed=11)
    subprocess.run(["cp", str(src), share.path(src.name)], check=True, timeout=60)
    uri = subprocess.run(["getfattr", "--only-values", "-n", "user.tsn.uri",
                          share.path(src.name)],
                         capture_output=True, check=True, timeout=30).stdout.decode().strip()
    other = nodes[3].tsn
    assert wait_search(other, ["alpha"], {src.name}) == {src.name: (5000, uri)}

    os.rename(share.path(src.name), share.path("gamma delta.txt"))
    names = os.listdir(share.path())
    assert "gamma delta.txt" in names and src.name not in names
    new = {"gamma delta.txt": (5000, uri)}
    assert wait_search(other, ["gamma"], set(new)) == new
    assert wait_search(other, ["delta", "gamma"], set(new)) == new
    # the old name's slot is tombstoned: its words find nothing any more
    assert wait_search(other, ["alpha"], set()) == {}
    assert search(other, "beta") == {}
    # a word of both names (the extension) finds the file once, by its new name
    assert wait_search(other, ["txt"], set(new)) == new
    assert time.monotonic() - t0 < 120


def test_search_rename_during_save(tmp_path, network, mounts):
    """A file renamed while its close is still storing it (a staged 64 MiB
    file: the close encodes it all) is published under the new name only;
    the old name never finds it. Without the publish lock the commit
    published the new content under the name it read before encoding."""
    t0 = time.monotonic()
    nodes = network.start(6)
    share = mounts.new("share", opts=(f"bootstrap={nodes[0].addr}",))
    data = random.Random(31).randbytes(64 << 20)
    old, new = share.path("omega sigma.bin"), share.path("tau upsilon.bin")
    fd = os.open(old, os.O_WRONLY | os.O_CREAT, 0o644)
    os.pwrite(fd, b"x", 1)   # a write past the start: staged, encoded at close
    os.pwrite(fd, data, 0)
    times = {}

    def close():
        times["close_start"] = time.monotonic()
        os.close(fd)
        times["close_end"] = time.monotonic()

    th = threading.Thread(target=close)
    th.start()
    time.sleep(0.05)
    os.rename(old, new)
    times["renamed"] = time.monotonic()
    th.join(120)
    assert not th.is_alive()
    # the rename ran while the close was storing the file
    assert times["renamed"] < times["close_end"], times
    uri = subprocess.run(["getfattr", "--only-values", "-n", "user.tsn.uri", new],
                         capture_output=True, check=True, timeout=30).stdout.decode().strip()
    other = nodes[3].tsn
    want = {"tau upsilon.bin": (64 << 20, uri)}
    assert wait_search(other, ["tau"], set(want)) == want
    assert wait_search(other, ["bin"], set(want)) == want
    assert search(other, "omega") == {}
    assert time.monotonic() - t0 < 120


def test_search_folder_rerun(tmp_path, network, mounts):
    """A search/ folder looked at again after its run ended runs the search
    again (at most once per 10 s), so a file published since shows up."""
    t0 = time.monotonic()
    nodes = network.start(6)
    look = mounts.new("look", opts=(f"bootstrap={nodes[0].addr}",))
    one, two = tmp_path / "kappa one.txt", tmp_path / "kappa two.txt"
    write_random(str(one), 2000, seed=21)
    write_random(str(two), 3000, seed=22)
    nodes[1].tsn.put(str(one))
    assert wait_search(nodes[4].tsn, ["kappa"], {one.name}) != {}
    folder = look.path("search", "kappa")
    assert os.listdir(folder) == [one.name]
    nodes[2].tsn.put(str(two))
    assert set(wait_search(nodes[4].tsn, ["kappa"], {one.name, two.name})) == \
        {one.name, two.name}
    end = time.monotonic() + 40
    while set(os.listdir(folder)) != {one.name, two.name} and time.monotonic() < end:
        time.sleep(0.5)
    assert sorted(os.listdir(folder)) == sorted([one.name, two.name])
    assert os.path.getsize(os.path.join(folder, two.name)) == 3000
    assert files_equal(str(two), os.path.join(folder, two.name))
    assert time.monotonic() - t0 < 120


def test_owner_republishes_on_its_interval(tmp_path, network):
    """--republish-interval times the owner's keyword republish: nodes that
    join after the put (and after the first republish, 5 s after start)
    receive the records from the owner's next republish, with nothing else
    re-storing them (--records-interval left at an hour)."""
    owner = network.add(args=["--republish-interval", "2"])
    src = write_random(tmp_path / "wombat republished.bin", 50_000)
    (uri,) = owner.tsn.put(src)
    time.sleep(6)  # past the republish at start
    late = [network.add(bootstrap=[owner.addr]) for _ in range(3)]
    network.wait_peers(late, 1)
    deadline = time.monotonic() + 20
    while not all(int(d.status()["records"]) > 0 for d in late):
        assert time.monotonic() < deadline, [d.status()["records"] for d in late]
        time.sleep(0.2)
    owner.stop()
    found = search(late[0].tsn, "wombat", "republished")
    assert [u for _, u in found.values()] == [uri], found
