"""fileio.py: the one atomic write (temp file in the same directory, write, fsync,
rename, directory fsync), the temp files it and the hash claims share, and what a
kill or a failure leaves behind."""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from speckit_git_policy import fileio
from speckit_git_policy.fileio import atomic_write, write_temp_file


def mode_of(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_creates_parents_and_replaces_whole(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "f.json"
    atomic_write(target, b"one")
    atomic_write(str(target), b"two" * 100_000)
    assert target.read_bytes() == b"two" * 100_000
    assert os.listdir(target.parent) == ["f.json"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_mode_is_the_usual_under_the_umask_or_exactly_the_one_asked(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write(tmp_path / "plain", b"x")
        atomic_write(tmp_path / "hook", b"#!/bin/sh\n", mode=0o755)
        atomic_write(tmp_path / "object", b"x", mode=0o444, durable=False)
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "plain") == 0o666 & ~umask
    assert mode_of(tmp_path / "hook") == 0o755
    assert mode_of(tmp_path / "object") == 0o444


@pytest.mark.parametrize("durable", [True, False])
def test_durable_fsyncs_the_file_and_its_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   durable: bool) -> None:
    synced: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    atomic_write(tmp_path / "f", b"data", durable=durable)
    assert len(synced) == (2 if durable else 0)
    assert (tmp_path / "f").read_bytes() == b"data"


@pytest.mark.parametrize("failing", ["write", "fsync", "chmod", "replace"])
def test_a_failure_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         failing: str) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(f"{failing} failed")

    monkeypatch.setattr(os, failing, boom)
    with pytest.raises(OSError, match=f"{failing} failed"):
        atomic_write(target, b"new", mode=0o640)
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f"]


def test_write_temp_file_is_closed_whole_and_removed_on_failure(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_temp_file(tmp_path, b"payload", prefix=".claim.", mode=0o600)
    assert os.path.dirname(path) == str(tmp_path) and os.path.basename(path).startswith(".claim.")
    assert Path(path).read_bytes() == b"payload" and mode_of(path) == 0o600
    os.unlink(path)

    def interrupted(*args: object) -> int:
        raise KeyboardInterrupt  # not only OSError: any exit on the way removes the file

    monkeypatch.setattr(os, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_temp_file(tmp_path, b"payload", prefix=".claim.")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


def test_remove_quietly(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    fileio.remove_quietly(tmp_path / "f")
    fileio.remove_quietly(tmp_path / "f")
    assert not (tmp_path / "f").exists()


WRITER = r"""
import sys
from speckit_git_policy.fileio import atomic_write
target, durable = sys.argv[1], sys.argv[2] == "1"
payloads = [bytes([65 + i]) * 300_000 for i in range(4)]
print("ready", flush=True)
i = 0
while True:
    atomic_write(target, payloads[i % 4], durable=durable)
    print(i % 4, flush=True)
    i += 1
"""


@pytest.mark.parametrize("durable", [True, False])
def test_sigkill_leaves_a_whole_file(tmp_path: Path, durable: bool) -> None:
    """Killed at any moment, the target holds one whole payload: at least the last one
    reported written (a rename is atomic), never a mix; only temp files may be left."""
    target = tmp_path / "target.bin"
    payloads = [bytes([65 + i]) * 300_000 for i in range(4)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    for _round in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target), "1" if durable else "0"],
                                stdout=subprocess.PIPE, text=True, env=env)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(random.uniform(0.02, 0.3))
        proc.send_signal(signal.SIGKILL)
        # Read the rest from the same buffered stream: lines already buffered stay there.
        done = proc.stdout.read().split()
        proc.wait()
        if not done:
            continue
        data = target.read_bytes()
        assert data in payloads
        last = int(done[-1])
        # The kill came after the last report, maybe after a later rename as well.
        assert payloads.index(data) in {last, (last + 1) % 4}
        leftovers = [name for name in os.listdir(tmp_path) if name != "target.bin"]
        assert all(name.startswith(".target.bin.") and name.endswith(".tmp") for name in leftovers)
