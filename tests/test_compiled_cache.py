"""The compile pre-commit keeps for post-commit: never changes a snapshot, never trusted blindly."""

from __future__ import annotations

import marshal
import os
import subprocess
from pathlib import Path

import pytest
from conftest import git
from hypothesis import given, settings
from hypothesis import strategies as st
from test_hooks_support import commit, head, install_hooks, set_policy, snapshot_of

from speckit_git_policy.canonical import canonical_bytes
from speckit_git_policy.capture import capture_commit_sha
from speckit_git_policy.compiled_cache import cache_dir, decode_entry, encode_entry, recall
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.hooks.runner import compile_staged
from speckit_git_policy.policy.sources import (
    git_entries,
    read_sources,
    regular_blob_ids,
    source_paths,
)
from speckit_git_policy.snapshot import (
    build_document,
    compile_sources,
    document_bytes,
    document_bytes_of,
)


def stage_and_commit_without_hooks(root: Path, old: str, new: str) -> tuple[GitRepo, str]:
    """Stage an edit, keep its compile as pre-commit does, then commit with no hook."""
    path = root / "model_policy.toml"
    path.write_text(path.read_text().replace(old, new))
    git(root, "add", "model_policy.toml")
    repo = GitRepo.discover(root)
    assert compile_staged(repo, source_paths(repo))
    git(root, "-c", f"core.hooksPath={root / 'no-hooks'}", "commit", "-q", "-m", "edit")
    return repo, git(root, "rev-parse", "HEAD").strip()


def entries(repo: GitRepo) -> list[str]:
    try:
        return sorted(name for name in os.listdir(cache_dir(repo)) if name.endswith(".entry"))
    except FileNotFoundError:
        return []


def blob_ids_at(repo: GitRepo, sha: str) -> dict[str, str] | None:
    paths = source_paths(repo)
    return regular_blob_ids(git_entries(repo, sha, paths.all()), paths.all())


def test_a_cached_compile_gives_byte_identical_snapshot_content(policy_repo: Path) -> None:
    repo, sha = stage_and_commit_without_hooks(policy_repo, "warn_threshold = 5.0", "warn_threshold = 6.5")
    paths = source_paths(repo)
    (entry,) = entries(repo)
    cached = recall(repo, paths, blob_ids_at(repo, sha))
    compiled = compile_sources(read_sources(repo, sha, paths))
    assert cached is not None and cached.validated and cached.issues == ()
    assert canonical_bytes(cached.content) == canonical_bytes(compiled.content)
    assert cached.hash == compiled.hash
    stamp = {"created_at": "2026-01-01T00:00:00.000000Z", "commit": sha, "trigger": "commit"}
    policy_id = "0b7a5f8e-6d1c-4c2a-9f3e-2a1b3c4d5e6f"
    assert document_bytes(build_document(cached, policy_id, **stamp)) == document_bytes(
        build_document(compiled, policy_id, **stamp))
    # The snapshot post-commit assembles from the cached parts is the same bytes too.
    assert document_bytes_of(cached, policy_id, **stamp) == document_bytes(build_document(compiled, policy_id, **stamp))
    assert entries(repo) == [], f"{entry} should be consumed by the capture it was made for"


def test_capture_through_the_cache_and_without_it_bind_the_same_content(policy_repo: Path) -> None:
    repo, sha = stage_and_commit_without_hooks(policy_repo, "warn_threshold = 5.0", "warn_threshold = 6.5")
    paths = source_paths(repo)
    with_cache = capture_commit_sha(repo, sha, "commit", paths)
    assert entries(repo) == []
    without = compile_sources(read_sources(repo, sha, paths))
    assert with_cache.hash == without.hash and with_cache.validated


@pytest.mark.parametrize("damage", ["truncated", "garbage", "content edited", "checksum edited", "other blob ids",
                                    "other tool version", "empty"])
def test_a_damaged_or_foreign_entry_is_ignored_and_the_commit_compiled(policy_repo: Path, damage: str) -> None:
    repo, sha = stage_and_commit_without_hooks(policy_repo, "warn_threshold = 5.0", "warn_threshold = 6.5")
    paths = source_paths(repo)
    (name,) = entries(repo)
    path = Path(cache_dir(repo)) / name
    data = path.read_bytes()
    entry = decode_entry(data)
    assert entry is not None
    header = data.partition(b"\n")[0]
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = b"\x00\xff not an entry"
    elif damage == "content edited":  # the payload changed, its checksum did not
        entry["content"]["budgets"]["cost"]["warn_threshold"] = 9.0
        data = header + b"\n" + marshal.dumps(entry)
    elif damage == "checksum edited":
        data = header[: -64] + b"0" * 64 + b"\n" + data.partition(b"\n")[2]
    elif damage == "other blob ids":  # a well-formed entry made from other blobs
        entry["blob_ids"] = {p: "1" * 40 for p in entry["blob_ids"]}
        data = encode_entry(entry)
    elif damage == "other tool version":
        entry["tool_version"] = "0.0.0"
        data = encode_entry(entry)
    else:
        data = b""
    path.write_bytes(data)
    assert recall(repo, paths, blob_ids_at(repo, sha)) is None
    path.write_bytes(data)
    result = capture_commit_sha(repo, sha, "commit", paths)
    expected = compile_sources(read_sources(repo, sha, paths))
    assert (result.hash, result.validated) == (expected.hash, True)


def test_an_entry_for_other_blobs_is_not_used(policy_repo: Path) -> None:
    repo, _sha = stage_and_commit_without_hooks(policy_repo, "warn_threshold = 5.0", "warn_threshold = 6.5")
    before = git(policy_repo, "rev-parse", "HEAD~1").strip()
    assert recall(repo, source_paths(repo), blob_ids_at(repo, before)) is None
    assert len(entries(repo)) == 1  # left for the commit it was made for


def test_an_invalid_staged_policy_is_not_kept(policy_repo: Path) -> None:
    path = policy_repo / "model_policy.toml"
    path.write_text(path.read_text().replace("warn_threshold = 5.0", "warn_threshold = -1"))
    git(policy_repo, "add", "model_policy.toml")
    repo = GitRepo.discover(policy_repo)
    assert not compile_staged(repo, source_paths(repo))
    assert entries(repo) == []


def test_hooks_pass_the_compile_from_pre_commit_to_post_commit(repo: Path) -> None:
    install_hooks(repo)
    set_policy(repo, 5.0)
    git(repo, "add", "-A")
    commit(repo, "Add model policy")
    gitrepo = GitRepo.discover(repo)
    assert entries(gitrepo) == []  # the root commit's entry was used by its post-commit
    # The installed pre-commit hook alone leaves the entry ...
    only_pre = repo / "only-pre-commit"
    only_pre.mkdir()
    (only_pre / "pre-commit").write_bytes((repo / ".git" / "hooks" / "pre-commit").read_bytes())
    (only_pre / "pre-commit").chmod(0o755)
    set_policy(repo, 6.0)
    git(repo, "add", "-A")
    git(repo, "-c", f"core.hooksPath={only_pre}", "commit", "-q", "-m", "Raise the threshold")
    assert len(entries(gitrepo)) == 1
    # ... and the installed post-commit hook uses it up for the capture.
    sha = head(repo)
    subprocess.run([str(repo / ".git" / "hooks" / "post-commit")], cwd=repo, check=True, capture_output=True)
    assert entries(gitrepo) == []
    document = snapshot_of(repo, sha)
    assert document["hash"] == compile_sources(read_sources(gitrepo, sha)).hash
    assert document["budgets"]["cost"]["warn_threshold"] == 6.0
    assert document["provenance"]["validated"] is True


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
@settings(max_examples=300, deadline=None)
def test_an_entry_carries_every_value_to_the_same_canonical_bytes(value: object) -> None:
    # pre-commit writes marshal data; what post-commit reads back must be the value
    # compiled, to the byte of its canonical JSON.
    entry = decode_entry(encode_entry({"content": value}))
    assert entry is not None and canonical_bytes(entry["content"]) == canonical_bytes(value)


def test_entries_of_commits_that_never_happened_are_dropped_after_a_day(tmp_path: Path) -> None:
    import time

    from speckit_git_policy.compiled_cache import STALE_SECONDS, _drop_stale

    old, fresh, other = tmp_path / "old.entry", tmp_path / "fresh.entry", tmp_path / "note.txt"
    earlier_format = tmp_path / "old.json"
    for path in (old, fresh, other, earlier_format):
        path.write_text("{}")
    long_ago = time.time() - STALE_SECONDS - 60
    for path in (old, other, earlier_format):
        os.utime(path, (long_ago, long_ago))
    _drop_stale(str(tmp_path))
    assert not old.exists() and not earlier_format.exists()
    assert fresh.exists() and other.exists()


@given(JSON_VALUES)
@settings(max_examples=500, deadline=None)
def test_plain_values_are_written_as_the_rfc8785_encoder_writes_them(value: object) -> None:
    # The hooks write bindings and assemble snapshots without the encoder: what they
    # write must be its bytes exactly, and anything else must be left to it.
    import rfc8785

    from speckit_git_policy.canonical import plain_bytes

    plain = plain_bytes(value)
    if plain is not None:
        assert plain == rfc8785.dumps(value)


@given(st.dictionaries(st.sampled_from(["schema_version", "models", "budgets", "source_files"]), JSON_VALUES,
                       min_size=1))
@settings(max_examples=200, deadline=None)
def test_a_document_assembled_from_parts_is_the_canonical_document(content: dict[str, object]) -> None:
    from speckit_git_policy.snapshot import Compiled, content_parts

    parts = content_parts(content)
    compiled = Compiled(content, "0" * 64, True, (), parts)
    stamp = {"created_at": "2026-01-01T00:00:00.000000Z", "commit": "a" * 40, "trigger": "commit"}
    policy_id = "0b7a5f8e-6d1c-4c2a-9f3e-2a1b3c4d5e6f"
    assert document_bytes_of(compiled, policy_id, **stamp) == document_bytes(
        build_document(compiled, policy_id, **stamp))


# ---- the content hash `current` keeps ---------------------------------------------------
def _current(root: Path) -> dict[str, object]:
    from speckit_git_policy.capture import current
    from speckit_git_policy.store import Stores

    repo = GitRepo.discover(root)
    return current(repo, Stores(repo))


def _no_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    import speckit_git_policy.capture as capture_module

    def refuse(*_args: object) -> object:
        raise AssertionError("compiled again")

    monkeypatch.setattr(capture_module, "compile_sources", refuse)


def test_current_keeps_the_hash_of_the_blobs_it_compiled(
    policy_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from speckit_git_policy.capture import capture

    capture(GitRepo.discover(policy_repo))
    first = _current(policy_repo)
    assert [
        name
        for name in os.listdir(cache_dir(GitRepo.discover(policy_repo)))
        if name.startswith("hash-")
    ]
    with monkeypatch.context() as patch:
        _no_compile(patch)
        assert _current(policy_repo) == first
    # Other blobs: compiled again, never the kept hash.
    path = policy_repo / "model_policy.toml"
    path.write_text(path.read_text().replace("warn_threshold = ", "warn_threshold = 9", 1))
    git(policy_repo, "commit", "-qam", "edit")
    second = _current(policy_repo)
    assert second["hash"] != first["hash"] and second["policy_id"] is None
    repo = GitRepo.discover(policy_repo)
    paths = source_paths(repo)
    sources = read_sources(repo, second["commit"], paths)  # type: ignore[arg-type]
    assert second["hash"] == compile_sources(sources).hash


def test_a_kept_hash_of_other_code_or_a_bad_one_is_not_used(
    policy_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import speckit_git_policy.compiled_cache as compiled_cache

    expected = _current(policy_repo)
    (kept,) = [
        os.path.join(cache_dir(GitRepo.discover(policy_repo)), name)
        for name in os.listdir(cache_dir(GitRepo.discover(policy_repo)))
        if name.startswith("hash-")
    ]
    entry = decode_entry(Path(kept).read_bytes())
    assert entry is not None
    for bad in ({**entry, "hash": "x" * 64 + "\n"}, {**entry, "hash": None}, [entry]):
        Path(kept).write_bytes(encode_entry(bad))  # type: ignore[arg-type]
        assert _current(policy_repo) == expected  # compiled again (and kept again)
    with monkeypatch.context() as patch:
        patch.setattr(compiled_cache, "_code_fingerprint", lambda: ["another compiler"])
        patch.setattr(compiled_cache, "remember_hash", lambda *args: None)
        Path(kept).write_bytes(encode_entry({**entry, "hash": "0" * 64}))
        assert _current(policy_repo) == expected  # not this code's entry: compiled
