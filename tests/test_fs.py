"""The one atomic-write helper: temporary names, what is left on failure, concurrent writers."""

import os
import threading

import pytest

from audionoise.io.files import atomic_write, temp_name, temp_target


def test_writes_text_bytes_and_callables(tmp_path):
    assert atomic_write(tmp_path / "a.txt", "é\n").read_bytes() == "é\n".encode("utf-8")
    assert atomic_write(tmp_path / "b.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    atomic_write(tmp_path / "c.bin", lambda fh: fh.write(b"xyz"), fsync=True)
    assert (tmp_path / "c.bin").read_bytes() == b"xyz"
    atomic_write(tmp_path / "a.txt", "new")  # replaces
    assert (tmp_path / "a.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin", "c.bin"]


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("old")

    def broken(fh):
        fh.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, broken)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["m.json"]
    with pytest.raises(OSError):
        atomic_write(tmp_path / "missing" / "x.txt", "x")


def test_temp_names_hold_the_pid_are_unique_and_recognised():
    names = {temp_name("x.wav") for _ in range(1000)}
    assert len(names) == 1000
    name = names.pop()
    assert name.startswith(f".x.wav.{os.getpid():08x}") and name.endswith(".tmp")
    assert temp_target(name) == "x.wav"
    assert temp_target(".a b.wav.0123456789ab.tmp") == "a b.wav"  # the 12-digit names of earlier versions
    assert temp_target(".a.wav.tmp") is None and temp_target("a.wav") is None


def test_concurrent_writers_never_leave_a_mixed_file(tmp_path):
    path = tmp_path / "shared.txt"
    contents = [str(i) * 20000 for i in range(8)]
    threads = [threading.Thread(target=atomic_write, args=(path, c)) for c in contents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert path.read_text() in contents
    assert [p.name for p in tmp_path.iterdir()] == ["shared.txt"]


def test_write_file_atomically_short_writes_and_failures(tmp_path, monkeypatch):
    from audionoise.io.files import write_file_atomically

    path = tmp_path / "a.wav"
    write_file_atomically(path, b"old")
    real_write, seen = os.write, []

    def short(fd, data):  # the kernel may take fewer bytes than offered: the rest follows
        seen.append(len(data))
        return real_write(fd, bytes(data[:3]))

    monkeypatch.setattr(os, "write", short)
    write_file_atomically(str(path), b"0123456789")
    assert path.read_bytes() == b"0123456789" and seen == [10, 7, 4, 1]

    def full(fd, data):
        real_write(fd, bytes(data[:4]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError, match="No space left"):
        write_file_atomically(path, b"new content")
    monkeypatch.undo()
    assert path.read_bytes() == b"0123456789" and [p.name for p in tmp_path.iterdir()] == ["a.wav"]
