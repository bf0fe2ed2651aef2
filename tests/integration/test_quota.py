"""A node with a small quota (issue 7): it never stores more chunk bytes
than its quota, whatever the network pushes at it, and keeps serving.

"Used" is what the quota caps (store.h): the body bytes of every chunk the
store keeps, pinned + held + cached + pending, as the node's STAT answer
gives them (docs/control.md), read straight from the control socket (the
`tsn stat` text rounds to 0.1 MiB)."""
import os
import socket
import struct
import threading
import time

from conftest import files_equal, write_random

QUOTA = "4M"
T_HELLO, T_STAT, T_OK, T_ERR = 1, 7, 12, 13


def _frame(sock, ftype, payload=b""):
    sock.sendall(struct.pack(">IB", 1 + len(payload), ftype) + payload)


def _read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("control socket closed")
        buf += chunk
    return buf


def _read_frame(sock):
    length, ftype = struct.unpack(">IB", _read_exact(sock, 5))
    assert 1 <= length <= 1 + 4096, length
    return ftype, _read_exact(sock, length - 1)


class Stat:
    """One control connection to a node, asking STAT: quota and bytes used."""

    def __init__(self, datadir):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(os.path.join(str(datadir), "control.sock"))
        _frame(self.sock, T_HELLO, b"TSNC" + struct.pack(">H", 1))
        ftype, _ = _read_frame(self.sock)
        assert ftype == T_HELLO, ftype

    def get(self):
        """(quota, used, held chunks, held bytes)"""
        _frame(self.sock, T_STAT)
        ftype, p = _read_frame(self.sock)
        assert ftype == T_OK and len(p) >= 96, (ftype, p[:64])
        v = struct.unpack(">12Q", p[:96])
        quota, chunks, nbytes = v[0], v[2:6], v[6:10]
        return quota, sum(nbytes), chunks[1], nbytes[1]

    def close(self):
        self.sock.close()


class Sampler(threading.Thread):
    """Samples a node's STAT every 50 ms until stopped: the highest use seen."""

    def __init__(self, datadir):
        super().__init__(daemon=True)
        self.stat = Stat(datadir)
        self.quota, self.used, _, _ = self.stat.get()
        self.max_used = self.used
        self.samples = 0
        self.error = None
        self.halt = threading.Event()

    def run(self):
        try:
            while not self.halt.is_set():
                _, used, _, _ = self.stat.get()
                self.max_used = max(self.max_used, used)
                self.samples += 1
                self.halt.wait(0.05)
        except Exception as e:  # reported by the test thread
            self.error = e

    def stop(self):
        self.halt.set()
        self.join(timeout=60)
        self.stat.close()


def test_small_quota_never_exceeded(network, tmp_path):
    args = ["--repair-interval", "2"]
    others = network.start(9, args=args)
    small = network.add(bootstrap=[others[0].addr], args=args + ["--quota", QUOTA])
    nodes = others + [small]
    network.wait_peers(nodes, 5)
    sampler = Sampler(small.datadir)
    assert sampler.quota == 4 << 20
    sampler.start()
    try:
        # 4 owners share 8 files of 5.5 MiB, 44 MiB: with r = 5 of 10 nodes
        # the small node is among the closest for about half of it
        files, owners = [], others[1:5]
        for i in range(8):
            src = write_random(tmp_path / f"f{i}.bin", 5_500_000 + i * 4099)
            (uri,) = owners[i % 4].tsn.put(src)
            files.append((uri, src))
        time.sleep(6)  # three repair passes: the refused copies went elsewhere
        st = small.status()
        accepted = int(st["chunks"].split("accepted")[1].split(",")[0])
        _, _, held_n, held_b = sampler.stat.get()
        assert held_n > 0 and accepted > 0, st

        # it still serves its client: a file larger than its quota reads
        # through it (the fetched chunks are cached, the oldest evicted)
        uri, src = files[0]
        small.tsn.run("get", uri, "-o", tmp_path / "via-small", timeout=300)
        assert files_equal(src, tmp_path / "via-small")
        # and every file reads from a node that owns none
        reader = others[6]
        for i, (uri, src) in enumerate(files):
            reader.tsn.run("get", uri, "-o", tmp_path / f"out{i}", timeout=300)
            assert files_equal(src, tmp_path / f"out{i}"), uri
        assert small.alive()
    finally:
        sampler.stop()
    assert sampler.error is None, f"STAT failed: {sampler.error!r}"
    assert sampler.samples > 20
    print(f"\nquota {sampler.quota} B: at most {sampler.max_used} B used over "
          f"{sampler.samples} samples; {held_n} chunks ({held_b} B) held, {accepted} accepted")
    assert sampler.max_used <= sampler.quota
