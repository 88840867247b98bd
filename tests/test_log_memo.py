"""queries/log_memo.py: the whole ``log`` is given from the memo only while every input
it names is unchanged (the walk, both stores' files, the capsule's trees, the code); any
change is computed again and equals what the code without memo or index gives."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import git
from test_trust_support import change_policy, forged

from speckit_git_policy.capture import capture
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.queries import history, history_index, list_cache, log_memo
from speckit_git_policy.store import Stores


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file counts as settled (the tests change files a moment before logging)."""
    monkeypatch.setattr(list_cache, "SETTLE_NS", -(10**18))


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One item per log that computed its entries (built the index) instead of taking
    them from the memo."""
    built: list[int] = []
    real = history_index.HistoryIndex.__init__

    def counted(self: history_index.HistoryIndex, *args: Any) -> None:
        built.append(1)
        real(self, *args)

    monkeypatch.setattr(history_index.HistoryIndex, "__init__", counted)
    return built


def _history(root: Path) -> GitRepo:
    repo = GitRepo.discover(root)
    capture(repo, commit="HEAD")
    for plan in (9000, 9100):
        old = "plan = 8000" if plan == 9000 else f"plan = {plan - 100}"
        change_policy(root, old, f"plan = {plan}", f"plan {plan}")
    return repo


def _log(repo: GitRepo) -> list[history.LogEntry]:
    return history.policy_log(repo, Stores(repo))


def _plain(repo: GitRepo) -> list[history.LogEntry]:
    """The entries computed afresh: no memo, no index, before or after."""
    kept = [_memo_path(repo), Path(repo.common_dir) / "speckit" / "log-index"]
    for path in kept:
        path.unlink(missing_ok=True)
    try:
        return _log(repo)
    finally:
        for path in kept:
            path.unlink(missing_ok=True)


def _memo_path(repo: GitRepo) -> Path:
    return Path(repo.git_dir) / "speckit" / "log-memo"


def test_a_second_log_is_the_kept_one(
    policy_repo: Path, settled: None, computed: list[int]
) -> None:
    repo = _history(policy_repo)
    first = _log(repo)
    assert computed == [1] and _memo_path(repo).exists()
    assert _log(repo) == first
    assert computed == [1]  # the second from the memo
    assert first == _plain(repo) == history.policy_log(repo, Stores(repo), 100)


def test_fresh_files_are_not_kept(policy_repo: Path, computed: list[int]) -> None:
    repo = _history(policy_repo)  # its files changed a moment ago
    assert _log(repo) == _log(repo)
    assert computed == [1, 1] and not _memo_path(repo).exists()


def _rewrite_newest_copy(repo: GitRepo, root: Path) -> None:
    stores = Stores(repo)
    newest = _log(repo)[0]["policy_id"]
    data = stores.fs.read(newest)
    assert data is not None
    stores.fs.write(newest, forged(data, hard_limit=4321.0))


def _append_binding(repo: GitRepo, root: Path) -> None:
    """The oldest snapshot bound to HEAD too, in the filesystem's log only: HEAD's entry
    is the oldest snapshot's from then on (of two, the oldest)."""
    oldest = _log(repo)[-1]["policy_id"]
    commit = git(root, "rev-parse", "HEAD").strip()
    op = {"op": "bind", "commit": commit, "bound_at": "2030-01-01T00:00:00.000000Z"}
    Stores(repo).fs.append_binding_op(oldest, op)


def _in_place(repo: GitRepo, root: Path) -> None:
    """Same inode, same size, same mtime: only the ctime moves."""
    log = Path(Stores(repo).fs.binding_logs) / f"{_log(repo)[0]['policy_id']}.jsonl"
    info = log.stat()
    data = log.read_bytes()
    log.write_bytes(data.replace(b'"bound_at":"2', b'"bound_at":"3', 1))
    os.utime(log, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert log.stat().st_size == info.st_size and log.stat().st_ino == info.st_ino


def _new_commit(repo: GitRepo, root: Path) -> None:
    change_policy(root, "plan = 9100", "plan = 9200", "plan 9200")


def _head_moved(repo: GitRepo, root: Path) -> None:
    git(root, "reset", "-q", "--hard", "HEAD~1")


def _capsule_only(repo: GitRepo, root: Path) -> None:
    """The same binding in the capsule only (as a fetch brings one)."""
    oldest = _log(repo)[-1]["policy_id"]
    capsule = Stores(repo).capsule
    assert capsule is not None
    assert capsule.add_binding(oldest, git(root, "rev-parse", "HEAD").strip())


def _code_changed(repo: GitRepo, root: Path) -> None:
    module = Path(log_memo.__file__)
    info = module.stat()
    os.utime(module, ns=(info.st_atime_ns, info.st_mtime_ns + 1))


@pytest.mark.parametrize(
    "change",
    [_rewrite_newest_copy, _append_binding, _in_place, _new_commit, _head_moved, _capsule_only],
)
def test_every_changed_input_is_computed_again(
    policy_repo: Path, settled: None, computed: list[int], change: Any
) -> None:
    repo = _history(policy_repo)
    before = _log(repo)
    change(repo, policy_repo)
    computed.clear()
    after = _log(repo)
    assert computed == [1]
    computed.clear()
    assert after == _plain(repo) and computed == [1]
    if change is not _in_place:
        assert after != before


def test_an_edit_of_the_code_is_computed_again(
    policy_repo: Path, settled: None, computed: list[int]
) -> None:
    repo = _history(policy_repo)
    _log(repo)
    module = Path(log_memo.__file__)
    info = module.stat()
    try:
        _code_changed(repo, policy_repo)
        computed.clear()
        assert _log(repo) == _plain(repo)
        assert computed == [1, 1]
    finally:
        os.utime(module, ns=(info.st_atime_ns, info.st_mtime_ns))


def test_a_memo_that_does_not_load_is_computed_again(
    policy_repo: Path, settled: None, computed: list[int]
) -> None:
    repo = _history(policy_repo)
    first = _log(repo)
    _memo_path(repo).write_bytes(b"\x00torn")
    computed.clear()
    assert _log(repo) == first
    assert computed == [1]


def test_a_log_whose_reading_said_something_is_not_kept(
    policy_repo: Path, settled: None, computed: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _history(policy_repo)
    real = history_index.HistoryIndex.all_bindings

    def noisy(self: history_index.HistoryIndex) -> Any:
        from speckit_git_policy.store.capsule.bulk import note

        note(self.repo, "a blob skipped")
        return real(self)

    monkeypatch.setattr(history_index.HistoryIndex, "all_bindings", noisy)
    _log(repo)
    assert not _memo_path(repo).exists()


def _hostile(repo: GitRepo, entries: list[Any]) -> None:
    """A memo under the very key the next log computes, holding ``entries``."""
    import marshal

    from speckit_git_policy.policy.sources import source_paths

    memo = log_memo.LogMemo(
        repo, Stores(repo), repo.resolve_commit("HEAD"), source_paths(repo).all()
    )
    _memo_path(repo).write_bytes(memo.key + marshal.dumps(entries))


@pytest.mark.parametrize(
    "entry",
    [
        ("\x1b]0;x\x07\x1b[2J", "c" * 40, "h", []),  # not a policy id
        ("12345678-1234-4234-8234-123456789abc", "d" * 40, "h", []),  # a commit not walked
        ("12345678-1234-4234-8234-123456789abc", None, b"raw", []),
        ("too", "short"),
        ["12345678-1234-4234-8234-123456789abc", "c" * 40, "h", []],
    ],
)
def test_a_kept_entry_of_another_shape_is_computed_again(
    policy_repo: Path, settled: None, computed: list[int], entry: Any
) -> None:
    repo = _history(policy_repo)
    first = _log(repo)
    commit = first[0]["commit"]
    if type(entry) is tuple:  # the walked commit where the case wants one
        entry = tuple(commit if part == "c" * 40 else part for part in entry)
    _hostile(repo, [entry])
    computed.clear()
    assert _log(repo) == first
    assert computed == [1]


def test_a_kept_hash_that_json_cannot_hold_is_computed_again(
    policy_repo: Path, settled: None, computed: list[int]
) -> None:
    repo = _history(policy_repo)
    first = _log(repo)
    e = first[0]
    _hostile(repo, [(e["policy_id"], e["commit"], {"odd": {1, 2}}, [])])
    computed.clear()
    assert _log(repo) == first and computed == [1]


def test_entries_made_while_the_policy_ref_moved_are_not_kept(
    policy_repo: Path, settled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _history(policy_repo)
    oldest = _log(repo)[-1]["policy_id"]
    _memo_path(repo).unlink()
    real = history_index.HistoryIndex.start

    def moved(self: history_index.HistoryIndex) -> None:  # another process binds meanwhile
        capsule = Stores(repo).capsule
        assert capsule is not None
        capsule.add_binding(oldest, git(policy_repo, "rev-parse", "HEAD").strip())
        real(self)

    monkeypatch.setattr(history_index.HistoryIndex, "start", moved)
    _log(repo)
    assert not _memo_path(repo).exists()


def test_signed_commits_read_the_same_under_log_show_signature(
    policy_repo: Path, tmp_path: Path
) -> None:
    """``log.showSignature`` makes git print the signature's check among a format's
    fields; every path of log asks git without it."""
    import subprocess

    key = tmp_path / "signing-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    allowed = tmp_path / "allowed-signers"
    allowed.write_text(f"ada@example.com {key.with_suffix('.pub').read_text()}")
    for name, value in (
        ("gpg.format", "ssh"),
        ("user.signingkey", f"{key}.pub"),
        ("commit.gpgsign", "true"),
        ("gpg.ssh.allowedSignersFile", str(allowed)),
    ):
        git(policy_repo, "config", name, value)
    git(policy_repo, "commit", "-q", "--amend", "--no-edit")
    repo = _history(policy_repo)
    git(policy_repo, "config", "log.showSignature", "true")
    assert "Good" in git(policy_repo, "log", "-1", "--format=%s")
    whole = _log(repo)
    assert [e["subject"] for e in whole] == ["plan 9100", "plan 9000", "Add model policy"]
    assert whole == history.policy_log(repo, Stores(repo), 100)
    every = history.policy_log(repo, Stores(repo), every_binding=True)
    assert every and all(entry["subject"] and entry["author"] for entry in every)
