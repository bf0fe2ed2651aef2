"""A scripted hostile peer against a running tsnd on 127.0.0.1: 100,000
datagrams (random, truncated valid messages, oversized, bad versions and
types, replayed and mutated valid ones), a few thousand random, truncated
and oversized TCP frames over many connections, and garbage on the control
socket. Afterwards the node must still answer (`tsn status` through the
control socket, a hand-built PING over UDP gets its PONG), must not have
died or printed a sanitizer report (the fixture checks), and its RSS must
stay within a bound. Everything is bounded in count and time; loopback only.

Message layouts are built by hand from docs/protocol.md and docs/control.md,
not from the C code."""
import hashlib
import os
import random
import re
import socket
import struct
import time

import pytest


DATAGRAMS = 100_000
TCP_CONNS = 40
TCP_FRAMES_PER_CONN = 100
CTL_CONNS = 300
RSS_BOUND_KIB = 200 * 1024  # ASan build: shadow memory and quarantine included
TIME_BOUND = 60.0

MTU = 1200
PING, PONG, FIND_NODE, NODES, FIND_VALUE, VALUES, STORE, STORE_ACK, FORWARD = range(1, 10)
BLOCK_MAX = 256 * 1024 + 1 + 24 + 8 + 16


def dgram(rng, mtype, body=b"", txid=None, sender=None, version=1):
    txid = rng.getrandbits(64) if txid is None else txid
    sender = rng.randbytes(32) if sender is None else sender
    return struct.pack(">BBQ", version, mtype, txid) + sender + body


def immutable_record(rng):
    value = rng.randbytes(rng.randrange(1, 200))
    key = hashlib.blake2b(value, digest_size=32).digest()
    expiry = int(time.time() * 1000) + 3600 * 1000
    return struct.pack(">BB", 1, 1) + key + struct.pack(">QQB", 0, expiry, 0) + \
        struct.pack(">H", len(value)) + value


def templates(rng, port):
    """Valid messages of every type (requests and unsolicited replies)."""
    addr = bytes([4, 127, 0, 0, 1]) + struct.pack(">H", port)
    contact = addr + rng.randbytes(32)
    return [
        dgram(rng, PING),
        dgram(rng, PONG, addr),
        dgram(rng, FIND_NODE, rng.randbytes(32)),
        dgram(rng, NODES, bytes([1]) + contact),
        dgram(rng, FIND_VALUE, rng.randbytes(32) + struct.pack(">H", 0)),
        dgram(rng, VALUES, struct.pack(">HB", 0, 0)),
        dgram(rng, STORE, immutable_record(rng)),
        dgram(rng, STORE_ACK, bytes([0])),
    ]


def hostile_datagram(rng, i, tpl, replay):
    kind = i % 7
    if kind == 0:  # random bytes, any length (some over the MTU)
        return rng.randbytes(rng.randrange(0, 1500))
    if kind == 1:  # a valid message cut short
        t = rng.choice(tpl)
        return t[:rng.randrange(len(t))]
    if kind == 2:  # oversized: a valid message padded past 1200 bytes
        t = rng.choice(tpl)
        n = rng.choice([MTU + 1, MTU + 100, 1472, 9000, 60000])
        return t + rng.randbytes(max(0, n - len(t)))
    if kind == 3:  # bad version or unknown/reserved type
        t = bytearray(rng.choice(tpl))
        if rng.random() < 0.5:
            t[0] = rng.choice([0, 2, 3, 0x7f, 0xff])
        else:
            t[1] = rng.choice([0, FORWARD, 10, 77, 0xff])
        return bytes(t)
    if kind == 4:  # replayed: the same valid bytes again and again
        return replay[i % len(replay)]
    if kind == 5:  # valid with a few bytes flipped
        t = bytearray(rng.choice(tpl))
        for _ in range(rng.randrange(1, 4)):
            t[rng.randrange(len(t))] ^= 1 << rng.randrange(8)
        return bytes(t)
    # valid with trailing bytes (bodies have exact lengths)
    return rng.choice(tpl) + rng.randbytes(rng.randrange(1, 40))


def flood_udp(port, rng, deadline):
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
    tpl = templates(rng, socks[0].getsockname()[1])
    replay = [tpl[0], tpl[2], tpl[4], tpl[6]]
    sent = dropped = 0
    try:
        for i in range(DATAGRAMS):
            if time.monotonic() > deadline:
                break
            if i % 5000 == 0:  # fresh txids and senders now and then
                tpl = templates(rng, socks[0].getsockname()[1])
            msg = hostile_datagram(rng, i, tpl, replay)
            try:
                socks[i % len(socks)].sendto(msg, ("127.0.0.1", port))
                sent += 1
            except (BlockingIOError, OSError):
                dropped += 1  # the local socket buffer is full: the kernel drops it
                if dropped % 64 == 0:
                    time.sleep(0.001)
                    for s in socks:  # drain replies so nothing piles up here
                        try:
                            while s.recv(2048):
                                pass
                        except BlockingIOError:
                            pass
    finally:
        for s in socks:
            s.close()
    return sent, dropped


# ---- TCP chunk-transfer frames (docs/protocol.md, frame.h) ----
# u32 length (bytes after it) | u8 version | u8 type | u64 request id | body
CHUNK_GET, CHUNK_DATA, CHUNK_NONE, CHUNK_PUT, CHUNK_ACK, TFORWARD = range(1, 7)


def tframe(mtype, body, version=1, reqid=0, length=None):
    n = 10 + len(body) if length is None else length
    return struct.pack(">IBBQ", n, version, mtype, reqid) + body


def hostile_frame(rng, i):
    """Frames a node reads and answers or skips without closing the stream."""
    kind = i % 5
    rid = rng.getrandbits(64)
    if kind == 0:
        return tframe(CHUNK_GET, rng.randbytes(32), reqid=rid)  # valid: a chunk nobody has
    if kind == 1:  # a block that does not hash to its id
        return tframe(CHUNK_PUT, rng.randbytes(32) + rng.randbytes(rng.randrange(1, 3000)),
                      reqid=rid)
    if kind == 2:  # unsolicited replies
        t = rng.choice([CHUNK_DATA, CHUNK_NONE, CHUNK_ACK])
        body = rng.randbytes(32) + (rng.randbytes(rng.randrange(1, 64)) if t == CHUNK_DATA
                                    else bytes([rng.randrange(0, 256)]))
        return tframe(t, body, reqid=rid)
    if kind == 3:  # unknown version or type, with a right length: skipped
        if rng.random() < 0.5:
            return tframe(rng.choice([CHUNK_GET, CHUNK_PUT]), rng.randbytes(32),
                          version=rng.choice([0, 2, 0xff]), reqid=rid)
        return tframe(rng.choice([0, 7, 200, TFORWARD]), rng.randbytes(rng.randrange(0, 64)),
                      reqid=rid)
    return tframe(CHUNK_GET, rng.randbytes(32), reqid=rid)


def drain(s):
    """Read whatever answers are there, without waiting."""
    t = s.gettimeout()
    s.setblocking(False)
    try:
        while s.recv(65536):
            pass
    except OSError:  # BlockingIOError: nothing more now
        pass
    finally:
        s.settimeout(t)


def finale(rng, j):
    """How connection j ends: each of the cases after which a node must
    close the stream (it cannot resynchronise), or a plain close."""
    k = j % 9
    if k == 0:  # a length prefix below the header
        return struct.pack(">I", rng.randrange(0, 10)) + rng.randbytes(20)
    if k == 1:  # an oversized frame: claims more than one block, then sends it
        n = 14 + 32 + BLOCK_MAX + rng.randrange(1, 1 << 20)
        return struct.pack(">IBBQ", n, 1, CHUNK_PUT, 1) + rng.randbytes(min(n, 400_000))
    if k == 2:  # a length prefix near 4 GiB
        return struct.pack(">I", 0xffffffff) + rng.randbytes(100)
    if k == 3:  # a frame cut short, then the connection closes
        f = tframe(CHUNK_PUT, rng.randbytes(32) + rng.randbytes(5000))
        return f[:rng.randrange(5, len(f))]
    if k == 4:  # pure garbage
        return rng.randbytes(rng.randrange(1, 5000))
    if k == 5:  # a body of the wrong size for its type
        return tframe(CHUNK_GET, rng.randbytes(rng.choice([0, 1, 31, 33, 100])))
    if k == 6:  # a PUT without a block
        return tframe(CHUNK_PUT, rng.randbytes(32))
    if k == 7:  # random bytes behind a small, plausible length
        b = rng.randbytes(rng.randrange(10, 80))
        return struct.pack(">I", len(b)) + b
    return b""  # a clean close


def hold_open(port, rng, n=150):
    """n connections at once (over the node's cap), each with half a frame."""
    socks = []
    try:
        for _ in range(n):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                break
            socks.append(s)
            try:
                s.sendall(tframe(CHUNK_PUT, rng.randbytes(32) + rng.randbytes(1000))[:500])
            except OSError:
                pass
        return len(socks)
    finally:
        for s in socks:
            s.close()


def flood_tcp(port, rng, deadline):
    frames = 0
    for j in range(TCP_CONNS):
        if time.monotonic() > deadline:
            break
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            batch = b""
            for i in range(TCP_FRAMES_PER_CONN):
                batch += hostile_frame(rng, j * TCP_FRAMES_PER_CONN + i)
                frames += 1
                if len(batch) > 32768 or i == TCP_FRAMES_PER_CONN - 1:
                    s.sendall(batch)
                    batch = b""
                    drain(s)
            s.sendall(finale(rng, j))
            drain(s)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass  # the node closed a stream it could not resynchronise: fine
        finally:
            s.close()
    return frames


# ---- the control socket (docs/control.md) ----

def cframe(ftype, payload=b"", length=None):
    n = 1 + len(payload) if length is None else length
    return struct.pack(">IB", n, ftype) + payload


def hello():
    return cframe(1, b"TSNC" + struct.pack(">H", 1))


def hostile_control(rng, j):
    k = j % 10
    if k == 0:
        return rng.randbytes(rng.randrange(1, 300))
    if k == 1:  # a request before HELLO
        return cframe(8)
    if k == 2:  # HELLO with a bad magic
        return cframe(1, b"XXXX\x00\x01")
    if k == 3:  # an oversized DATA claim after HELLO
        return hello() + struct.pack(">IB", 0x7fffffff, 10) + rng.randbytes(1000)
    if k == 4:  # a PUT whose name length disagrees with the frame
        return hello() + cframe(2, bytes([0, 200]) + b"abc")
    if k == 5:  # DATA outside a PUT
        return hello() + cframe(10, b"x" * 10)
    if k == 6:  # unknown type, zero length
        return hello() + cframe(0xee) + struct.pack(">I", 0)
    if k == 7:  # a server-only frame from the client
        return hello() + cframe(12)
    if k == 8:  # a PUT started and abandoned mid-file
        return hello() + cframe(2, bytes([0, 1]) + b"f") + cframe(10, rng.randbytes(5000))
    return hello() + cframe(3, b"tsn:" + b"a" * 124)  # a GET of a malformed URI


def flood_control(datadir, rng, deadline):
    path = os.path.join(datadir, "control.sock")
    for j in range(CTL_CONNS):
        if time.monotonic() > deadline:
            break
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            for _ in range(500):  # the backlog is full: the node pushes back
                try:
                    s.connect(path)
                    break
                except BlockingIOError:
                    time.sleep(0.01)
            s.sendall(hostile_control(rng, j))
            # Let the node read everything, then wait for it to close.
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        finally:
            s.close()


def ping_pong(port, timeout=10.0):
    """A hand-built PING from a fresh socket; returns once its PONG came."""
    rng = random.Random()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.5)
    me = s.getsockname()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:  # the global rate limit may be spent
            txid = rng.getrandbits(64)
            s.sendto(dgram(rng, PING, txid=txid), ("127.0.0.1", port))
            try:
                while True:
                    data, src = s.recvfrom(2048)
                    if len(data) < 42 or data[2:10] != struct.pack(">Q", txid):
                        continue
                    assert data[0] == 1 and data[1] == PONG, data[:2]
                    body = data[42:]
                    assert body == bytes([4, 127, 0, 0, 1]) + struct.pack(">H", me[1]), body
                    return time.monotonic()
            except socket.timeout:
                continue
    finally:
        s.close()
    pytest.fail(f"no PONG within {timeout} s")


def test_hostile_peer(network, tmp_path):
    d = network.add()
    ping_pong(d.port)  # answers before
    rss0 = d.rss_kib()
    rng = random.Random(20240607)
    t0 = time.monotonic()
    deadline = t0 + TIME_BOUND - 15  # leave time for the checks

    sent, dropped = flood_udp(d.port, rng, deadline)
    t_udp = time.monotonic() - t0
    frames = flood_tcp(d.port, rng, deadline)
    held = hold_open(d.port, rng)
    t_tcp = time.monotonic() - t0 - t_udp
    flood_control(d.datadir, rng, deadline)
    took = time.monotonic() - t0

    assert d.alive(), d.log()
    assert sent + dropped == DATAGRAMS, "the datagram loop ran out of time"
    assert frames == TCP_CONNS * TCP_FRAMES_PER_CONN, "the TCP loop ran out of time"
    st = d.status()  # through the control socket
    assert st["node"] == d.id
    # The node read the flood and dropped it for the right reasons.
    line = st["datagrams"]  # "in N, out N; dropped: malformed N, bad version N, ..."
    print(f"\nnode: datagrams {line}; bytes in {st['in']}, out {st['out']}")
    for counter, least in (("in", 20000), ("malformed", 1000), ("bad version", 1000),
                           ("bad type", 1000)):
        n = int(re.search(rf"\b{counter} (\d+)", line).group(1))
        assert n >= least, f"{counter} {n} < {least}: {line}"
    ping_pong(d.port)
    rss = d.rss_kib()
    print(f"\nhostile: {sent} datagrams sent ({dropped} dropped locally) in {t_udp:.1f} s, "
          f"{frames} TCP frames and {held} half-open connections in {t_tcp:.1f} s, "
          f"{CTL_CONNS} control connections; "
          f"total {took:.1f} s; RSS {rss0 // 1024} -> {rss // 1024} MiB")
    assert rss < RSS_BOUND_KIB, f"RSS {rss} KiB over {RSS_BOUND_KIB} KiB"
    assert took < TIME_BOUND


def test_control_connection_cap(network, tmp_path):
    """Eight control connections at once are served; a ninth is told EBUSY
    and closed; once they close, the node answers again."""
    d = network.add()
    path = os.path.join(d.datadir, "control.sock")
    conns = []
    try:
        for _ in range(8):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(path)
            s.sendall(hello())
            assert s.recv(11) == cframe(1, b"TSNC" + struct.pack(">H", 1))
            conns.append(s)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(path)
        hdr = s.recv(5)
        length, ftype = struct.unpack(">IB", hdr)
        assert ftype == 13  # ERR
        body = b""
        while len(body) < length - 1:
            body += s.recv(length - 1 - len(body))
        assert struct.unpack(">I", body[:4])[0] == 16  # EBUSY
        assert s.recv(10) == b""  # and closed
        s.close()
    finally:
        for s in conns:
            s.close()
    deadline = time.monotonic() + 10
    while True:  # the slots free as the threads notice the closes
        p = d.tsn.run("status", check=False)
        if p.returncode == 0:
            break
        assert time.monotonic() < deadline, p.stderr.decode()
        time.sleep(0.1)
