"""The whole ``log`` through its content-addressed index (queries/history_index.py): the
same entries as without it, nothing parsed again for bytes it has seen, and never an
answer for bytes it has not (docs/DESIGN.md §10)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import git
from test_trust_support import change_policy, forged

from speckit_git_policy.capture import capture
from speckit_git_policy.cli import cli
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.queries import history, history_index
from speckit_git_policy.queries.history import entries_json, policy_log
from speckit_git_policy.store import Stores


def _history(root: Path) -> GitRepo:
    repo = GitRepo.discover(root)
    capture(repo, commit="HEAD")
    for plan in (9000, 9100, 9200):
        change_policy(root, "plan = 8000" if plan == 9000 else f"plan = {plan - 100}",
                      f"plan = {plan}", f"plan {plan}")
    return repo


def _without_index(repo: GitRepo, **options: Any) -> list[dict[str, Any]]:
    """The entries as the code without the index computes them (one entry at a time)."""
    stores = Stores(repo)
    if options.get("every_binding"):
        pairs = history._every_binding(repo, stores)
    else:
        pairs = history._walk(repo, stores, repo.resolve_commit("HEAD"), 10**9)
    return list(history._entries(repo, stores, pairs, None))


def _log(root: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["-C", str(root), "log", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_index_gives_the_entries_the_code_without_it_gives(policy_repo: Path) -> None:
    repo = _history(policy_repo)
    for _ in range(2):  # built, then used
        assert policy_log(repo, Stores(repo)) == _without_index(repo)
        assert policy_log(repo, Stores(repo), every_binding=True) == _without_index(
            repo, every_binding=True
        )
    assert (Path(repo.common_dir) / "speckit" / "log-index").exists()


def test_a_second_log_parses_no_document(policy_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _history(policy_repo)
    first = _log(policy_repo)
    parsed: list[str] = []
    real = history_index.HistoryIndex._parse

    def counted(self: history_index.HistoryIndex, policy_id: str) -> Any:
        parsed.append(policy_id)
        return real(self, policy_id)

    monkeypatch.setattr(history_index.HistoryIndex, "_parse", counted)
    assert _log(policy_repo) == first
    assert parsed == []


def test_a_copy_changed_in_place_is_read_again(policy_repo: Path) -> None:
    repo = _history(policy_repo)
    before = _log(policy_repo)
    stores = Stores(repo)
    newest = before[0]["policy_id"]
    data = stores.fs.read(newest)
    assert data is not None
    fake = forged(data, hard_limit=12345.0)
    stores.fs.write(newest, fake)  # other bytes under the same id: another key
    after = _log(policy_repo)
    assert after[0]["hash"] == json.loads(fake)["hash"] != before[0]["hash"]
    assert "budgets.cost.hard_limit" in after[0]["changed"]
    assert after == _without_index(repo)


def test_a_binding_added_later_is_seen(policy_repo: Path) -> None:
    repo = _history(policy_repo)
    _log(policy_repo, "--all")
    stores = Stores(repo)
    oldest = _log(policy_repo)[-1]["policy_id"]
    git(policy_repo, "commit", "-q", "--allow-empty", "-m", "bound by hand")
    commit = git(policy_repo, "rev-parse", "HEAD").strip()
    stores.add_binding(oldest, commit)
    entries = _log(policy_repo, "--all")
    assert commit in [entry["commit"] for entry in entries if entry["policy_id"] == oldest]
    assert entries == _without_index(repo, every_binding=True)


def test_an_index_that_does_not_load_is_built_again(policy_repo: Path) -> None:
    repo = _history(policy_repo)
    first = _log(policy_repo)
    (Path(repo.common_dir) / "speckit" / "log-index").write_bytes(b"\x00garbage")
    assert _log(policy_repo) == first


def test_entries_json_is_json_dumps_text() -> None:
    entries: Any = [
        {"policy_id": "p\u2028é\"\\", "hash": None, "commit": "c", "author": None,
         "date": "d\x7f\x01", "subject": "s\tü", "changed": []},
        {"policy_id": "q", "hash": {"odd": [1, "\n"]}, "commit": "c", "author": "a",
         "date": None, "subject": "", "changed": ["a.b", "c\u0000"]},
    ]
    assert entries_json(entries) == json.dumps(entries, indent=2, ensure_ascii=False)
    assert entries_json([]) == json.dumps([], indent=2)
