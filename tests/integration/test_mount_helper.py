"""mount(8) and /etc/fstab: `mount -t tsn tsn DIR -o ...` and an fstab line
of type tsn run mount.tsn as a mount helper. mount(8) looks for helpers only
in /sbin, so the test links /sbin/mount.tsn to the build for its duration
(as `meson install` would install it) and removes the link afterwards; it
skips if /sbin/mount.tsn is already something else. The fstab line is read
from a file of the test's own (mount -T FILE), not /etc/fstab."""
import os
import subprocess
import time

import pytest

from conftest import is_mounted, mount_exe

HELPER = "/sbin/mount.tsn"


@pytest.fixture
def helper_link():
    if os.geteuid() != 0:
        pytest.skip("mount(8) helpers need root")
    exe = os.path.realpath(mount_exe())
    if os.path.lexists(HELPER):
        if os.path.islink(HELPER) and os.path.realpath(HELPER) == exe:
            os.unlink(HELPER)  # a leftover of an interrupted run of this test
        else:
            pytest.skip(f"{HELPER} exists already (installed?): not replacing it")
    os.symlink(exe, HELPER)
    try:
        yield exe
    finally:
        os.unlink(HELPER)


def unmount(mnt):
    for args in (["fusermount3", "-u", str(mnt)], ["fusermount3", "-uz", str(mnt)]):
        if not is_mounted(mnt):
            return
        subprocess.run(args, capture_output=True, timeout=30)
        for _ in range(100):
            if not is_mounted(mnt):
                return
            time.sleep(0.1)


def wait_mounted(mnt, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if is_mounted(mnt):
            return True
        time.sleep(0.1)
    return False


def check_works(mnt):
    (mnt / "hello.txt").write_text("terra pins\n")
    assert (mnt / "hello.txt").read_text() == "terra pins\n"
    uri = os.getxattr(str(mnt / "hello.txt"), "user.tsn.uri").decode()
    assert uri.startswith("tsn:")
    assert "hello.txt" in os.listdir(mnt)


def test_mount_t_tsn(tmp_path, helper_link):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    opts = f"datadir={tmp_path / 'data'},host=127.0.0.1,port=0"
    r = subprocess.run(["mount", "-t", "tsn", "tsn", str(mnt), "-o", opts],
                       capture_output=True, timeout=60)
    try:
        assert r.returncode == 0, r.stderr.decode()
        assert wait_mounted(mnt), "mount -t tsn returned but nothing is mounted"
        check_works(mnt)
        # The mount lists as a FUSE mount of subtype tsn.
        with open("/proc/self/mounts") as f:
            assert any(f" {mnt} fuse.tsn " in line for line in f)
    finally:
        unmount(mnt)
    assert not is_mounted(mnt)


def test_fstab_line(tmp_path, helper_link):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    fstab = tmp_path / "fstab"
    fstab.write_text(f"# a TSN mount\ntsn {mnt} tsn "
                     f"datadir={tmp_path / 'data'},host=127.0.0.1,port=0,noauto,nofail 0 0\n")
    r = subprocess.run(["mount", "-T", str(fstab), str(mnt)], capture_output=True, timeout=60)
    try:
        assert r.returncode == 0, r.stderr.decode()
        assert wait_mounted(mnt)
        check_works(mnt)
    finally:
        unmount(mnt)
    # And the data is there at the next mount of the same line.
    r = subprocess.run(["mount", "-T", str(fstab), str(mnt)], capture_output=True, timeout=60)
    try:
        assert r.returncode == 0, r.stderr.decode()
        assert wait_mounted(mnt)
        assert (mnt / "hello.txt").read_text() == "terra pins\n"
    finally:
        unmount(mnt)


def test_bad_option_from_mount(tmp_path, helper_link):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tsn", "tsn", str(mnt), "-o", "frobnicate=1"],
                       capture_output=True, timeout=60)
    assert r.returncode != 0
    assert b"frobnicate" in r.stderr
    assert not is_mounted(mnt)
