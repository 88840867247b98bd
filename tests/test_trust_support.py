"""Builders for the trust tests (no tests here): a hostile remote's objects crafted by git
plumbing (hash-object, mktree, commit-tree, update-ref, tag -a), a real git daemon, and
clones holding a real policy, runs and a pushed capsule."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from conftest import git, write_policy_sources

from speckit_git_policy.canonical import canonical_bytes
from speckit_git_policy.capture import capture
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.runs import run as runs
from speckit_git_policy.snapshot import content_hash
from speckit_git_policy.store.capsule import layout

TREE, BLOB = "040000", "100644"


def plumb(cwd: Path, *args: str, data: bytes | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, input=data, capture_output=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {result.stderr.decode()}")
    return result.stdout.decode().strip()


def blob(cwd: Path, data: bytes) -> str:
    return plumb(cwd, "hash-object", "-w", "--stdin", data=data)


def ls(cwd: Path, tree: str) -> dict[str, tuple[str, str]]:
    out = subprocess.run(["git", "ls-tree", "-z", tree], cwd=cwd, capture_output=True, check=True).stdout
    entries = {}
    for record in out.split(b"\0"):
        if record:
            head, name = record.split(b"\t", 1)
            mode, _kind, oid = head.decode().split()
            entries[name.decode("utf-8", "surrogateescape")] = (mode, oid)
    return entries


def mktree(cwd: Path, entries: dict[str, tuple[str, str]]) -> str:
    kinds = {TREE: "tree", "160000": "commit"}
    lines = b"".join(
        f"{mode} {kinds.get(mode, 'blob')} {oid}\t".encode() + name.encode("utf-8", "surrogateescape") + b"\0"
        for name, (mode, oid) in entries.items()
    )
    return plumb(cwd, "mktree", "-z", "--missing", data=lines)


def edit(cwd: Path, tree: str | None, path: str, entry: tuple[str, str] | None) -> str:
    """``tree`` with ``path`` set to ``entry`` (or removed), trees rebuilt up to the root."""
    entries = ls(cwd, tree) if tree else {}
    head, _, rest = path.partition("/")
    if not rest:
        if entry is None:
            entries.pop(head, None)
        else:
            entries[head] = entry
    else:
        sub = entries.get(head)
        entries[head] = (TREE, edit(cwd, sub[1] if sub and sub[0] == TREE else None, rest, entry))
    return mktree(cwd, entries)


def tip(cwd: Path, ref: str) -> str:
    return plumb(cwd, "rev-parse", "--verify", ref)


def tree_of(cwd: Path, commit: str) -> str:
    return plumb(cwd, "rev-parse", f"{commit}^{{tree}}")


def hostile(remote: Path, ref: str, edits: dict[str, tuple[str, str] | None], *,
            descendant: bool = True, message: str = "hostile") -> str:
    """A commit on ``ref`` of the remote whose tree is the current one with ``edits``, a
    child of the current tip (it claims to be a fast-forward) unless ``descendant`` is
    False; the ref is moved to it."""
    current = tip(remote, ref)
    tree = tree_of(remote, current)
    for path, entry in edits.items():
        tree = edit(remote, tree, path, entry)
    parents = ["-p", current] if descendant else []
    commit = plumb(remote, "commit-tree", *parents, "-m", message, tree)
    plumb(remote, "update-ref", ref, commit)
    return commit


def entry_at(cwd: Path, commit: str, path: str) -> tuple[str, str]:
    out = plumb(cwd, "ls-tree", commit, path)
    mode, _kind, rest = out.split(" ", 2)
    return mode, rest.split("\t")[0]


# ---- clones with a real policy, runs and a pushed capsule -------------------------------
def policy_clone(root: Path, remote: Path, name: str = "a") -> Path:
    """A clone that commits the example policy, captures it and pushes branch and capsule."""
    path = root / name
    git(root, "init", "-q", str(path))
    write_policy_sources(path)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "Add model policy")
    git(path, "remote", "add", "origin", str(remote))
    git(path, "push", "-q", "-u", "origin", "main")
    capture(GitRepo.discover(path), commit="HEAD", trigger="commit")
    return path


def change_policy(path: Path, old: str, new: str, message: str) -> str:
    """Commit a change of the policy file and capture it; the new commit's SHA."""
    policy = path / "model_policy.toml"
    policy.write_text(policy.read_text().replace(old, new, 1))
    git(path, "commit", "-q", "-am", message)
    capture(GitRepo.discover(path), commit="HEAD", trigger="commit")
    return git(path, "rev-parse", "HEAD").strip()


def run_with_events(path: Path, run_id: str, count: int) -> None:
    runs.start_run(GitRepo.discover(path), run_id)
    for i in range(count - 1):
        runs.checkpoint(GitRepo.discover(path), run_id, f"step {i}")


def event_ids(path: Path, run_id: str) -> list[str]:
    return [e["event_id"] for e in runs.run_events(GitRepo.discover(path), run_id)]


def forged(data: bytes, hard_limit: float = 1000000.0) -> bytes:
    """A self-consistent forgery of a snapshot: same policy_id, another hard limit, the
    hash recomputed, so that the bytes alone verify."""
    document = json.loads(data)
    document["budgets"]["cost"]["hard_limit"] = hard_limit
    document["hash"] = content_hash(document)
    return canonical_bytes(document)


def policy_ref() -> str:
    return layout.policy_ref("default")


def run_ref(run_id: str) -> str:
    return layout.run_ref("default", run_id)


# ---- a real git daemon -------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def git_daemon(base: Path, timeout: float = 20.0) -> Iterator[str]:
    """``git daemon`` serving every repository under ``base`` (push enabled) on a free
    port of 127.0.0.1; yields the URL prefix ``git://127.0.0.1:<port>``; stopped after."""
    port = free_port()
    proc = subprocess.Popen(
        ["git", "daemon", "--export-all", "--enable=receive-pack", f"--base-path={base}",
         "--listen=127.0.0.1", f"--port={port}", "--reuseaddr", "--informative-errors", str(base)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"git daemon did not start: {proc.stderr.read() if proc.stderr else ''}")
            time.sleep(0.05)
        yield f"git://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def fake_ssh(directory: Path) -> str:
    """A GIT_SSH_COMMAND that runs the remote command locally (git's own test technique):
    ``ssh [options] host command`` → ``sh -c command``."""
    script = directory / "fake-ssh"
    script.write_text(
        "#!/bin/sh\n"
        "# skip ssh options git may pass, then the host\n"
        "while [ $# -gt 0 ]; do case $1 in -o|-p) shift 2 ;; -*) shift ;; *) break ;; esac; done\n"
        "shift\n"
        'exec sh -c "$*"\n'
    )
    os.chmod(script, 0o755)
    return str(script)
