"""resolve, push and pull on the command line, checked with git as the reader."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from conftest import git

from speckit_git_policy.cli import cli


def _invoke(repo: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["-C", str(repo), *args])


def test_resolve_maps_a_policy_uri_to_a_listed_ref_and_the_file_bytes(policy_repo: Path) -> None:
    captured = json.loads(_invoke(policy_repo, "capture", "--json").stdout)
    result = _invoke(policy_repo, "resolve", captured["uri"], "--json")
    assert result.exit_code == 0, result.output
    place = json.loads(result.stdout)
    assert set(place) >= {"uri", "ref", "object"} and place["uri"] == captured["uri"]
    assert place["ref"] in git(policy_repo, "for-each-ref", "--format=%(refname)").split()
    blob = git(policy_repo, "cat-file", "-p", place["object"])
    assert blob.encode() == (policy_repo / captured["path"]).read_bytes()


def test_resolve_refuses_bad_uris_with_exit_2(policy_repo: Path) -> None:
    _invoke(policy_repo, "capture")
    for uri in ("mv2://default/policy/../../etc/passwd", "https://example.com/x",
                "mv2://default/policy/not-a-uuid", "mv2://other/policy/00000000-0000-4000-8000-000000000000"):
        result = _invoke(policy_repo, "resolve", uri)
        assert result.exit_code == 2, uri
        assert result.output.startswith("error: ") and "Traceback" not in result.output


def test_push_and_pull_through_a_bare_remote(policy_repo: Path, bare_remote: Path, tmp_path: Path) -> None:
    git(policy_repo, "remote", "add", "origin", str(bare_remote))
    empty = _invoke(policy_repo, "pull", "--json")
    assert empty.exit_code == 0, empty.output  # a remote without the namespace is not an error
    assert json.loads(empty.stdout)["refs"] == {}
    captured = json.loads(_invoke(policy_repo, "capture", "--json").stdout)
    pushed = _invoke(policy_repo, "push")
    assert pushed.exit_code == 0, pushed.output
    assert "refs/speckit/default/policy" in git(bare_remote, "for-each-ref", "--format=%(refname)")
    other = tmp_path / "other"
    git(tmp_path, "init", "-q", str(other))
    git(other, "remote", "add", "origin", str(bare_remote))
    pulled = _invoke(other, "pull", "--json")
    assert pulled.exit_code == 0, pulled.output
    assert json.loads(pulled.stdout)["refs"] == {"refs/speckit/default/policy": "created"}
    shown = _invoke(other, "show", captured["policy_id"], "--raw")
    assert shown.stdout_bytes == (policy_repo / captured["path"]).read_bytes()


def test_unknown_remote_is_exit_2(policy_repo: Path) -> None:
    for command in ("push", "pull"):
        result = _invoke(policy_repo, command, "nowhere")
        assert result.exit_code == 2
        assert "nowhere" in result.output
