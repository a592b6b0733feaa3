"""The one writer of every output: atomic, never harmful, one line on any OS error, nothing left behind."""

import os
import stat
import subprocess
import sys

import pytest

from numabench.errors import ResultError, UsageError
from numabench.util.atomicfile import remove_stale_temporaries, write_atomic

IS_ROOT = os.geteuid() == 0


def test_writes_and_replaces_leaving_no_temporary(tmp_path):
    path = tmp_path / "r.json"
    write_atomic(str(path), "one")
    write_atomic(str(path), "two")
    assert path.read_text() == "two"
    assert os.listdir(tmp_path) == ["r.json"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_directory_target_is_one_line(tmp_path):
    with pytest.raises(ResultError, match="it is a directory") as info:
        write_atomic(str(tmp_path), "x")
    assert "\n" not in str(info.value)
    assert os.listdir(tmp_path) == []


def test_a_fifo_is_written_in_place_never_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen([sys.executable, "-c", f"print(open({str(fifo)!r}).read(), end='')"],
                              stdout=subprocess.PIPE, text=True)
    write_atomic(str(fifo), "through the pipe")
    assert reader.communicate(timeout=30)[0] == "through the pipe"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.root
def test_a_device_is_written_in_place_never_replaced(tmp_path):
    # A private copy of /dev/null (char 1:3): as root, a rename would have replaced the device.
    dev = tmp_path / "null"
    os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    write_atomic(str(dev), "discarded")
    assert stat.S_ISCHR(os.stat(dev).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["null"]


def test_an_unwritable_directory_is_one_line(tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "r.json"
    with pytest.raises(UsageError, match="cannot write into .*No such file or directory") as info:
        write_atomic(str(missing), "x", error_type=UsageError, fix="choose a writable --junit path")
    assert str(info.value).endswith("choose a writable --junit path")


@pytest.fixture
def tiny_tmpfs(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a 64 KiB tmpfs: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


@pytest.mark.root
def test_a_full_filesystem_is_one_line_and_leaves_nothing(tiny_tmpfs):
    keep = tiny_tmpfs / "keep.json"
    write_atomic(str(keep), "earlier result")
    with pytest.raises(ResultError, match="No space left on device"):
        write_atomic(str(tiny_tmpfs / "big.json"), "x" * (1 << 20))
    with pytest.raises(ResultError, match="No space left on device"):
        write_atomic(str(keep), "y" * (1 << 20))
    assert sorted(os.listdir(tiny_tmpfs)) == ["keep.json"]
    assert keep.read_text() == "earlier result"


@pytest.mark.root
def test_a_read_only_filesystem_is_one_line(tiny_tmpfs):
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_tmpfs)], check=True)
    with pytest.raises(ResultError, match="Read-only file system"):
        write_atomic(str(tiny_tmpfs / "r.json"), "x")


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f".numabench-{dead}-abc.tmp"
    live = tmp_path / f".numabench-{os.getpid()}-def.tmp"
    other = tmp_path / ".numabench-notapid.tmp"
    for p in (stale, live, other):
        p.write_text("partial")
    assert remove_stale_temporaries(str(tmp_path)) == [stale.name]
    write_atomic(str(tmp_path / "r.json"), "x")  # a later write cleans up as well
    assert sorted(os.listdir(tmp_path)) == sorted([live.name, other.name, "r.json"])
